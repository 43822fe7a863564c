"""Identifiers. Anything we mint that a SOAP listener sees is a Salesforce-shaped 18-character id."""

from __future__ import annotations

import hashlib
import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def _encode(data: bytes, length: int) -> str:
    number = int.from_bytes(data, "big")
    chars = []
    for _ in range(length):
        number, index = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[index])
    return "".join(chars)


def sf_id(prefix: str, *parts: str) -> str:
    """Deterministic 18-char id ([a-zA-Z0-9]{18}) from its parts: retries and redeliveries get the same id."""
    if len(prefix) != 3 or not prefix.isalnum():
        raise ValueError("prefix must be 3 alphanumeric characters")
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return prefix + _encode(digest, 15)


def random_sf_id(prefix: str) -> str:
    return sf_id(prefix, secrets.token_hex(16))


def deterministic_id(*parts: str) -> str:
    """Message ids derived from their cause, so a redelivered cause maps to the same message."""
    return "msg_" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def random_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"
