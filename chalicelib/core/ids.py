"""Identifiers. Anything we mint that a SOAP listener sees is a Salesforce-form 18-character id.

Salesforce's 18-character id is its 15-character, case-sensitive id plus a 3-character suffix that survives
case-insensitive handling: for each 5-character chunk, a 5-bit mask of which characters are capital letters
(first character = lowest bit), written with `SUFFIX_ALPHABET`. Listeners generated from Salesforce's WSDL check
the `[a-zA-Z0-9]{18}` form; careful ones check the suffix too. Key prefixes name the kind: `00D` organization,
`04k` outbound-message action, `04l` notification, `01Q` workflow rule.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID15 = re.compile(r"^[a-zA-Z0-9]{15}$")
_ID18 = re.compile(r"^[a-zA-Z0-9]{18}$")


def _encode(data: bytes, length: int) -> str:
    number = int.from_bytes(data, "big")
    chars = []
    for _ in range(length):
        number, index = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[index])
    return "".join(chars)


def checksum(id15: str) -> str:
    """The 3-character case-safe suffix of a 15-character Salesforce id."""
    if not _ID15.match(id15):
        raise ValueError("a Salesforce id body is 15 letters and digits")
    suffix = ""
    for start in (0, 5, 10):
        mask = sum(1 << bit for bit, char in enumerate(id15[start:start + 5]) if "A" <= char <= "Z")
        suffix += SUFFIX_ALPHABET[mask]
    return suffix


def to_18(id15: str) -> str:
    return id15 + checksum(id15)


def salesforce_id_problem(value: str) -> str | None:
    """Why `value` is not an 18-character Salesforce id (form and suffix), or None."""
    if _ID15.match(value):
        return f"must be the 18-character form of this id: {to_18(value)}"
    if not _ID18.match(value):
        return "must be an 18-character Salesforce id (letters and digits)"
    if value[15:] != checksum(value[:15]):
        return f"has a wrong case-safe suffix (expected {checksum(value[:15])})"
    return None


def sf_id(prefix: str, *parts: str) -> str:
    """Deterministic Salesforce-form id from its parts: retries and redeliveries get the same id."""
    if len(prefix) != 3 or not prefix.isalnum():
        raise ValueError("prefix must be 3 alphanumeric characters")
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return to_18(prefix + _encode(digest, 12))


def random_sf_id(prefix: str) -> str:
    return sf_id(prefix, secrets.token_hex(16))


def salesforce_form(prefix: str, value: str) -> str:
    """`value` if it is a valid 18-character id, its 18-character form if it is a 15-character one, otherwise an
    id derived from it (stable): an id minted before ids carried their suffix still maps to one valid id."""
    if _ID15.match(value):
        return to_18(value)
    if salesforce_id_problem(value) is None:
        return value
    return sf_id(prefix, value)


def organization_id(configured: str) -> str:
    """The OrganizationId to stamp: a team moving from Salesforce sets ORG_ID to its org's id (15 or 18
    characters) so listeners that check it keep working; any other text seeds a stable derived `00D` id."""
    return salesforce_form("00D", configured)


def deterministic_id(*parts: str) -> str:
    """Message ids derived from their cause, so a redelivered cause maps to the same message."""
    return "msg_" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def random_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"
