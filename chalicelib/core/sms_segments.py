"""How an SMS body is encoded and billed (pure): GSM-7 when every character is in the GSM 03.38 alphabet (its
extension table's characters take two septets), UCS-2 otherwise; 160 septets in one segment or 153 per segment
when concatenated, 70 UTF-16 units or 67 per segment. One emoji turns a 160-character message into three
segments: operators see it at template save and in previews, before the bill does."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

# GSM 03.38 basic character set (the 128 positions, escape excluded) and the extension table (ESC + char).
GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = "\f^{}\\[~]|€"
_GSM = frozenset(GSM_BASIC) | frozenset(GSM_EXTENSION)
_PLACEHOLDER = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)


@dataclass(frozen=True)
class Segments:
    encoding: Literal["GSM-7", "UCS-2"]
    characters: int
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int

    def as_dict(self) -> dict[str, object]:
        return {"encoding": self.encoding, "characters": self.characters, "units": self.units,
                "segments": self.segments}


def non_gsm(text: str) -> list[str]:
    """The characters of `text` that GSM-7 cannot carry, in order of appearance, once each."""
    seen: dict[str, None] = {}
    for char in text:
        if char not in _GSM:
            seen.setdefault(char)
    return list(seen)


def _split(sizes: list[int], single: int, per_part: int) -> int:
    """Parts as a handset splits them: a character is never cut in two, so an extension character (two septets)
    or a surrogate pair (two UTF-16 units) that would straddle a part's end starts the next part."""
    if sum(sizes) <= single:
        return 1
    parts, used = 1, 0
    for size in sizes:
        if used + size > per_part:
            parts, used = parts + 1, 0
        used += size
    return parts


def analyze(text: str) -> Segments:
    if not non_gsm(text):
        sizes = [2 if char in GSM_EXTENSION else 1 for char in text]
        return Segments("GSM-7", len(text), sum(sizes), _split(sizes, 160, 153))
    sizes = [2 if ord(char) > 0xFFFF else 1 for char in text]
    return Segments("UCS-2", len(text), sum(sizes), _split(sizes, 70, 67))


def template_warning(body: str) -> str | None:
    """Why every message from this template body will be UCS-2 (its fixed text), or None."""
    fixed = _PLACEHOLDER.sub("", body)
    found = non_gsm(fixed)
    if not found:
        return None
    shown = ", ".join(repr(c) for c in found[:5])
    return (f"always sent as UCS-2 (70 characters per segment instead of 160): its text holds {shown}, "
            "which GSM-7 cannot carry")
