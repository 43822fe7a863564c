"""A message's history as a hash chain: each entry's link is the hash of the previous link, the entry itself and
the digest of the payload it concerns, so an entry changed, removed or reordered after the fact, or a payload
other than the one rendered, no longer verifies. Tamper-evident, not tamper-proof: whoever can rewrite the item
can rewrite the whole chain; anchoring the head elsewhere is what would catch that.

Links and digests are 12 hex characters (48 bits of SHA-256): each history entry costs 13 more bytes, not 65, on
the write units an SMS's life is priced at (a typical SMS item stays under the 1 KB of one write unit). The length
buys nothing against someone who can rewrite the item, who can recompute the whole chain anyway; it only has to
make an accidental or partial edit show. The payload digest is written in the detail of the entry that set it
(`payload=<digest>`: the creation, an operator's rebuild), so the chain verifies from the history alone.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

LINK = 12
GENESIS = "0" * LINK
_PAYLOAD = re.compile(r"payload=([0-9a-f]{12})")


def payload_digest(payload: dict[str, Any]) -> str:
    """The rendered payload's digest: canonical JSON (sorted keys, no spaces), SHA-256, 12 hex characters."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:LINK]


def link(previous: str, line: str, digest: str) -> str:
    return hashlib.sha256(f"{previous}\n{line}\n{digest}".encode("utf-8", "surrogatepass")).hexdigest()[:LINK]


def carried_digest(line: str, current: str) -> str:
    """The payload digest in force after this entry (an entry that sets one says so)."""
    found = _PAYLOAD.search(line)
    return found.group(1) if found else current


def extend(chain: list[str], lines: list[str], digest: str) -> list[str]:
    """The links for `lines` appended after `chain`, with `digest` the payload's before the first of them."""
    links = list(chain)
    for line in lines:
        digest = carried_digest(line, digest)
        links.append(link(links[-1] if links else GENESIS, line, digest))
    return links[len(chain):]


@dataclass(frozen=True)
class Verdict:
    verified: bool
    problem: str | None
    payload_digest: str | None


def verify(lines: list[str], chain: list[str], payload: dict[str, Any]) -> Verdict:
    """Walk the history: every link recomputed, and the payload now is the one the history last set."""
    now = payload_digest(payload)
    if not chain:
        return Verdict(False, "no audit chain (written before the chain existed)", now)
    if len(chain) != len(lines):
        return Verdict(False, f"{len(lines)} history entries but {len(chain)} links", now)
    digest, previous = "", GENESIS
    for number, (line, stored) in enumerate(zip(lines, chain, strict=True)):
        digest = carried_digest(line, digest)
        expected = link(previous, line, digest)
        if stored != expected:
            return Verdict(False, f"entry {number} does not match its link", now)
        previous = stored
    if digest != now:
        return Verdict(False, "the payload is not the one the history records", now)
    return Verdict(True, None, now)
