"""GET /openapi.json: a valid OpenAPI 3.1 document that lists every route and the bodies the code validates."""

from __future__ import annotations

from typing import Any

from openapi_spec_validator import validate

from chalicelib.models.customer import MAX_CONTACTS
from tests.conftest import Api


def test_openapi_document_is_valid_and_complete(runtime: Any) -> None:
    status, document = Api(runtime.api_url).call("GET", "/openapi.json")  # no key needed
    assert status == 200
    validate(document)
    routes = runtime.app_module.app.routes
    listed = {(path, method.lower()) for path, methods in document["paths"].items() for method in methods}
    assert listed == {(path, method.lower()) for path, methods in routes.items() for method in methods}
    send = document["paths"]["/sends"]["post"]
    assert set(send["responses"]) >= {"202", "400", "401", "403"}
    schema = document["components"]["schemas"]["InstantSendRequest"]
    assert schema["required"] == ["configuration_id", "contacts"]
    assert schema["properties"]["contacts"]["maxItems"] == MAX_CONTACTS
    status_callback = document["paths"]["/webhooks/twilio/status"]["post"]
    assert "security" not in status_callback
    assert "application/x-www-form-urlencoded" in status_callback["requestBody"]["content"]
