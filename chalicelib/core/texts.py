"""Checks and limits on texts: what XML 1.0 can carry, and how outside texts are cut before they are kept.

Pure and import-free (no lxml, no pydantic): the record API checks every string it stores with `xml_problem`,
and every log line is clipped with `clip`.
"""

from __future__ import annotations

import re

# The characters XML 1.0 forbids (the complement of its Char production), as a regex class. The API document
# states the same class as a pattern (models/records.XML_TEXT; a test keeps the two equal).
XML_FORBIDDEN = "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\ud800-\\udfff\\ufffe\\uffff"
_NOT_XML = re.compile(f"[{XML_FORBIDDEN}]")
MAX_OUTSIDE_TEXT = 2_000  # characters kept of a text from outside (provider errors, listener answers), stored or logged


def xml_problem(text: str) -> str | None:
    """Why a string cannot be an XML 1.0 text node (a listener's parser would reject the whole message)."""
    found = _NOT_XML.search(text)
    if found is None:
        return None
    return f"holds U+{ord(found.group()):04X} at position {found.start()}, a character XML 1.0 forbids"


def clip(text: str | None, limit: int = MAX_OUTSIDE_TEXT) -> str | None:
    """At most `limit` characters, marked when cut."""
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 20] + f"... [{len(text) - limit + 20} more]"
