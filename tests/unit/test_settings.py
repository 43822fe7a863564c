"""Settings come from the environment by the model's own field list: a field added to the model is read from
its variable with no second list to keep in step."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.platform import settings as settings_module
from chalicelib.platform.settings import Settings, env_name, get_settings, reset_settings

SAMPLES: dict[type, tuple[str, Any]] = {str: ("x-value", "x-value"), int: ("7", 7), float: ("2.5", 2.5),
                                        bool: ("true", True)}


@pytest.fixture(autouse=True)
def fresh() -> Any:
    reset_settings()
    yield
    reset_settings()


def test_every_field_is_read_from_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    checked = []
    for name, field in Settings.model_fields.items():
        if name in {"api_auth", "org_id", "sender_threads"}:
            continue  # API_AUTH is read as app.py reads it; org_id is normalised; sender_threads is 1-10
        kind = field.annotation if field.annotation in SAMPLES else str
        raw, expected = SAMPLES[kind]
        monkeypatch.setenv(env_name(name), raw)
        checked.append((name, expected))
    found = get_settings()
    assert [(name, getattr(found, name)) for name, _ in checked] == checked
    assert env_name("stage") == "OUTBOUND_STAGE" and env_name("config_table") == "CONFIG_TABLE"


def test_empty_optional_values_keep_their_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in settings_module.EMPTY_IS_UNSET | {"allow_insecure_endpoints"}:
        monkeypatch.setenv(env_name(name), "")
    monkeypatch.setenv("API_AUTH", "off")
    found = get_settings()
    assert found.default_phone_region is None and found.http_ca_bundle is None
    assert found.org_id == Settings().org_id and found.allow_insecure_endpoints is False and not found.api_auth


def test_a_value_of_the_wrong_kind_is_refused_at_startup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_TIMEOUT_SECONDS", "soon")
    with pytest.raises(ValueError, match="http_timeout_seconds"):
        get_settings()
