"""SOAP delivery over HTTPS with a client certificate read from SSM or Secrets Manager (mTLS)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.platform.settings import reset_settings
from tests.conftest import Api, unique_object, wait_for
from tests.e2e.test_pipeline import queue_entries, wait_state
from tests.tls import TestAuthority

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def mtls_listener(runtime: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, TestAuthority]]:
    """An HTTPS listener that refuses clients without a certificate from its CA; the sender trusts its CA."""
    from local.providers import FakeSoapListener

    directory = tmp_path_factory.mktemp("mtls")
    authority = TestAuthority()
    listener = FakeSoapListener(tls=authority.server_context(directory, require_client_certificate=True)).start()
    os.environ["HTTP_CA_BUNDLE"] = str(directory / "ca.crt")
    reset_settings()
    try:
        yield listener, authority
    finally:
        os.environ.pop("HTTP_CA_BUNDLE", None)
        reset_settings()
        listener.stop()


def soap_definition(api: Api, endpoint: str, certificate: str | None) -> tuple[str, str]:
    obj = unique_object()
    api.call("PUT", f"/objects/{obj}", {"name": obj, "fields": {"Subject": "string"}})
    body = {"object": obj, "name": "mTLS", "unique_name": "Mtls", "endpoint_url": endpoint, "fields": ["Subject"]}
    if certificate:
        body["client_certificate"] = certificate
    status, definition = api.call("POST", "/outbound-messages", body)
    assert status == 201, definition
    assert api.call("POST", "/rules", {"object": obj, "name": "r", "definition_ids": [definition["id"]]})[0] == 201
    return obj, definition["id"]


def delivered_to(api: Api, definition_id: str) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        listed = api.call("GET", f"/messages?state=delivered&definition_id={definition_id}")[1]["messages"]
        return listed[0] if listed else None

    return dict(wait_for(find, what=f"a delivered message for {definition_id}"))


@pytest.mark.parametrize("store", ["ssm", "secretsmanager"])
def test_client_certificate_from_the_secret_store_is_presented(
        runtime: Any, api: Api, mtls_listener: tuple[Any, TestAuthority], store: str) -> None:
    listener, authority = mtls_listener
    issued = authority.issue(f"outbound-{store}", server=False)
    secret = json.dumps({"certificate": issued.certificate, "private_key": issued.private_key})
    if store == "ssm":
        reference = f"/outbound/local/certificates/erp-{os.urandom(4).hex()}"
        runtime.client("ssm").put_parameter(Name=reference, Value=secret, Type="SecureString")
    else:
        name = f"outbound/local/erp-{os.urandom(4).hex()}"
        runtime.client("secretsmanager").create_secret(Name=name, SecretString=secret)
        reference = f"secretsmanager:{name}"
    obj, definition_id = soap_definition(api, listener.url + "/mtls", reference)
    api.call("PUT", f"/records/{obj}/r-{store}", {"fields": {"Subject": "over mTLS"}})
    delivered_to(api, definition_id)
    assert f"outbound-{store}" in [r.peer_subject for r in listener.requests]


def test_without_the_certificate_the_attempt_fails_and_waits_for_a_retry(
        runtime: Any, api: Api, mtls_listener: tuple[Any, TestAuthority]) -> None:
    listener, _ = mtls_listener
    obj, definition_id = soap_definition(api, listener.url + "/mtls", None)
    api.call("PUT", f"/records/{obj}/r-none", {"fields": {"Subject": "no certificate"}})
    entry = wait_for(lambda: next((e for e in queue_entries(api, f"view=all&definition_id={definition_id}")
                                   if e["last_error"]), None), what="a failed TLS attempt")
    assert entry["error_code"] == "transport"
    assert api.call("DELETE", f"/outbound-messages/queue/{entry['message_id']}")[0] in {204, 409}


def test_missing_certificate_secret_fails_visibly(runtime: Any, api: Api,
                                                  mtls_listener: tuple[Any, TestAuthority]) -> None:
    listener, _ = mtls_listener
    obj, definition_id = soap_definition(api, listener.url + "/mtls", "/outbound/local/certificates/never-stored")
    api.call("PUT", f"/records/{obj}/r-missing", {"fields": {"Subject": "x"}})
    [entry] = wait_for(lambda: queue_entries(api, f"view=failed&definition_id={definition_id}"),
                       what="the failed delivery in the monitoring queue")
    assert entry["error_code"] == "client_certificate" and "ParameterNotFound" in entry["last_error"]
    assert wait_state(api, entry["message_id"], "failed")["state"] == "failed"


@pytest.mark.parametrize(("certificate", "endpoint"), [
    ("not-a-path", "https://erp.example.com/x"),
    ("/outbound/certs/erp", "http://erp.example.com/x"),
    ("/outbound/prod/certs/erp", "https://erp.example.com/x"),  # another stage's: its IAM policy forbids it
    ("secretsmanager:outbound/erp", "https://erp.example.com/x"),
])
def test_bad_certificate_references_are_400(api: Api, certificate: str, endpoint: str, tmp_path: Path) -> None:
    obj = unique_object()
    api.call("PUT", f"/objects/{obj}", {"name": obj, "fields": {}})
    status, answer = api.call("POST", "/outbound-messages", {
        "object": obj, "name": "n", "unique_name": "N", "endpoint_url": endpoint, "client_certificate": certificate})
    assert status == 400 and answer["fields"][0]["field"] == "client_certificate", answer
