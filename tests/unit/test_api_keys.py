"""API keys are stored as digests; a revoked key stops passing within twice the cache setting."""

from __future__ import annotations

import pytest

from chalicelib.platform import api_keys


def test_a_key_matches_its_digest_and_nothing_else() -> None:
    stored = api_keys.digest("k-123")
    assert stored.startswith("sha256:") and "k-123" not in stored and len(stored) == 7 + 64
    assert api_keys._matches("k-123", stored) and api_keys._matches("k-123", stored.upper().replace("SHA256", "sha256"))
    assert not api_keys._matches("k-124", stored) and not api_keys._matches(stored, stored)
    assert api_keys._matches("k-123", "k-123")  # a key stored as given before digests: still accepted


@pytest.mark.parametrize(("value", "seconds"), [("", 60), ("0", 0), ("300", 300), ("99999", 3600), ("x", 60)])
def test_the_cache_setting_bounds_how_long_a_revoked_key_passes(monkeypatch: pytest.MonkeyPatch, value: str,
                                                                 seconds: int) -> None:
    monkeypatch.setenv("API_KEY_CACHE_SECONDS", value)
    assert api_keys.cache_seconds() == seconds
