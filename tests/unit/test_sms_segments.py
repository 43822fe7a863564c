"""SMS encoding and segments as carriers count them (GSM 03.38 / 3GPP TS 23.040 concatenation)."""

from __future__ import annotations

import pytest

from chalicelib.core.sms_segments import analyze, template_warning


@pytest.mark.parametrize(("text", "encoding", "units", "segments"), [
    ("a" * 160, "GSM-7", 160, 1),
    ("a" * 161, "GSM-7", 161, 2),  # concatenated: 153 septets per segment
    ("a" * 306, "GSM-7", 306, 2),
    ("a" * 307, "GSM-7", 307, 3),
    ("{}" * 80, "GSM-7", 320, 3),  # the extension table costs two septets a character
    ("Grüße à Jörg, 10 €", "GSM-7", 19, 1),  # ü, ß, à, ö are in the basic table; € costs two septets
    ("ç" * 70, "UCS-2", 70, 1),  # lower-case ç is not GSM-7 (only Ç is)
    ("ç" * 71, "UCS-2", 71, 2),  # concatenated: 67 units per segment
    ("a" * 159 + "😀", "UCS-2", 161, 3),  # one emoji: two UTF-16 units, and the whole message is UCS-2
])
def test_encoding_and_segments(text: str, encoding: str, units: int, segments: int) -> None:
    found = analyze(text)
    assert (found.encoding, found.units, found.segments, found.characters) == (encoding, units, segments, len(text))


def test_a_template_warns_only_for_its_own_text() -> None:
    assert template_warning("Hi {{ CustomerName }}, case {{ CaseName }} is open.") is None
    warning = template_warning("Hi {{ CustomerName }} 👋, ça va?")
    assert warning and "'👋'" in warning and "'ç'" in warning and "UCS-2" in warning
    assert template_warning("{{ '😀' if False }} plain") is None  # what a placeholder may print is the contact's


@pytest.mark.parametrize(("text", "segments"), [
    ("a" * 152 + "€" + "a" * 10, 2),  # the euro (2 septets) would straddle septet 153: it opens part 2
    ("a" * 152 + "€" + "a" * 152, 3),  # 306 septets: ceil says 2, but the euro opens part 2 and 154 overflow it
    ("😀" * 33 + "a" + "😀" * 2, 2),  # 67 units fill part 1 exactly; the last pairs go whole to part 2
    ("a" * 66 + "😀" + "a" * 10, 2),  # the pair would straddle unit 67: it opens part 2
    ("a" * 66 + "😀" + "a" * 66, 3),
])
def test_a_character_is_never_split_across_parts(text: str, segments: int) -> None:
    """Handsets and carriers do not cut a two-septet extension character or a surrogate pair in two; the
    estimate counts the parts they send (an arithmetic ceil was one part short for these)."""
    assert analyze(text).segments == segments
