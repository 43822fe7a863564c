"""SOAP delivery connects to the addresses vetted at resolution time and nowhere else (no DNS rebinding),
while TLS still checks the partner's certificate against the endpoint's host name."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib.core.url_policy import EndpointRefused, Unresolvable, pin
from chalicelib.models.messages import SoapPayload
from chalicelib.platform.http_client import TransportError, request
from chalicelib.platform.settings import reset_settings
from chalicelib.senders import soap
from chalicelib.senders.outcomes import Accepted, Permanent, Transient
from chalicelib.soap.envelope import FieldType, Notification, build_envelope
from local.providers import FakeSoapListener
from tests.tls import TestAuthority

PARTNER = "partner.example"  # .example never resolves: any lookup outside our resolver would fail


class Listener:
    def __init__(self, server: FakeSoapListener, server_names: list[str | None]) -> None:
        self.server, self.server_names = server, server_names

    @property
    def port(self) -> int:
        return int(self.server.url.rsplit(":", 1)[1])


def tls_listener(directory: Path, dns_names: tuple[str, ...]) -> Listener:
    authority = TestAuthority()
    context = authority.server_context(directory, require_client_certificate=False, dns_names=dns_names)
    names: list[str | None] = []

    def remember(_socket: ssl.SSLObject, name: str | None, _context: ssl.SSLContext) -> None:
        names.append(name)

    context.sni_callback = remember  # type: ignore[assignment, unused-ignore]  # typeshed differs by version
    return Listener(FakeSoapListener(tls=context).start(), names)


@pytest.fixture
def partner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Listener]:
    listener = tls_listener(tmp_path, (PARTNER,))
    monkeypatch.setenv("HTTP_CA_BUNDLE", str(tmp_path / "ca.crt"))
    monkeypatch.setenv("ALLOW_INSECURE_ENDPOINTS", "true")  # the listener is on loopback
    reset_settings()
    yield listener
    listener.server.stop()
    reset_settings()


class CountingResolver:
    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append((host, port))
        if host not in self.answers:
            raise OSError(f"no such host {host}")
        return self.answers[host]


def payload(url: str) -> SoapPayload:
    envelope = build_envelope(
        organization_id="00Doutboundlocal01", action_id="04k000000000001", session_id=None, enterprise_url="e",
        partner_url="p", object_type="Case", field_types={"Id": FieldType.id},
        notifications=[Notification(id="04l000000000001", fields={"Id": "r1"})])
    return SoapPayload(endpoint_url=url, envelope=envelope.decode(), notification_ids=["04l000000000001"],
                       object_type="Case", record_ids=["r1"])


def test_delivery_resolves_once_and_connects_to_the_vetted_address_under_the_partners_name(partner: Listener) -> None:
    resolver = CountingResolver({PARTNER: ["127.0.0.1"]})
    outcome = soap.deliver(payload(f"https://{PARTNER}:{partner.port}/notify?v=1"), resolve=resolver)
    assert isinstance(outcome, Accepted), outcome
    assert resolver.asked == [(PARTNER, partner.port)]
    [received] = partner.server.requests
    assert received.path == "/notify?v=1"
    assert received.headers["host"] == f"{PARTNER}:{partner.port}"
    assert partner.server_names == [PARTNER]  # SNI carries the name, not the address
    assert partner.server.notification_ids == ["04l000000000001"]


def test_a_certificate_for_another_name_is_refused_even_at_the_vetted_address(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    impostor = tls_listener(tmp_path, ("somebody-else.example",))
    monkeypatch.setenv("HTTP_CA_BUNDLE", str(tmp_path / "ca.crt"))
    monkeypatch.setenv("ALLOW_INSECURE_ENDPOINTS", "true")
    reset_settings()
    try:
        outcome = soap.deliver(payload(f"https://{PARTNER}:{impostor.port}/notify"),
                               resolve=CountingResolver({PARTNER: ["127.0.0.1"]}))
    finally:
        impostor.server.stop()
        reset_settings()
    assert isinstance(outcome, Transient) and outcome.code == "transport"
    assert "certificate" in outcome.reason.lower() or "hostname" in outcome.reason.lower(), outcome.reason
    assert impostor.server.requests == []


def test_the_http_client_never_looks_the_name_up_again(partner: Listener, tmp_path: Path) -> None:
    """The rebinding window: given pinned addresses, the client must not resolve the host a second time.
    The name resolves nowhere, so any lookup would fail the request. A first address that refuses the
    connection costs nothing (no request was sent) and the next one is used."""
    answer = request("POST", f"https://{PARTNER}:{partner.port}/pinned", b"<x/>", {}, timeout=2, max_bytes=65536,
                     ca_certs=str(tmp_path / "ca.crt"), addresses=["127.0.0.2", "127.0.0.1"])
    assert answer.status == 500  # the listener cannot parse <x/>: what matters is that it got there, once
    assert [r.path for r in partner.server.requests] == ["/pinned"]


def test_without_pinned_addresses_the_unresolvable_name_fails(partner: Listener, tmp_path: Path) -> None:
    """The converse of the test above, so that one cannot pass by accident."""
    with pytest.raises(TransportError):
        request("POST", f"https://{PARTNER}:{partner.port}/unpinned", b"<x/>", {}, timeout=2, max_bytes=65536,
                ca_certs=str(tmp_path / "ca.crt"))
    assert partner.server.requests == []


def test_a_name_with_any_private_answer_is_refused_outside_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOW_INSECURE_ENDPOINTS", "false")
    reset_settings()
    resolver = CountingResolver({PARTNER: ["93.184.215.14", "10.0.0.7"]})
    try:
        outcome = soap.deliver(payload(f"https://{PARTNER}/notify"), resolve=resolver)
    finally:
        reset_settings()
    assert isinstance(outcome, Permanent) and outcome.code == "endpoint_refused"
    assert resolver.asked == [(PARTNER, 443)]


def test_a_name_that_does_not_resolve_is_retried_later(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOW_INSECURE_ENDPOINTS", "false")
    reset_settings()
    try:
        outcome = soap.deliver(payload(f"https://{PARTNER}/notify"), resolve=CountingResolver({}))
    finally:
        reset_settings()
    assert isinstance(outcome, Transient) and outcome.code == "dns"


@pytest.mark.parametrize(("answers", "allowed"), [
    (["93.184.215.14"], True),
    (["2606:2800:21f:cb07:6820:80da:af6b:8b2c"], True),
    (["169.254.169.254"], False),  # the instance metadata service
    (["::ffff:127.0.0.1"], False),
    (["fd00::1"], False),
    (["100.64.0.1"], False),  # shared address space: not "private" to Python, not public either
    (["64:ff9b::7f00:1"], False),  # NAT64 to 127.0.0.1
    (["64:ff9b::5db8:d70e"], True),  # NAT64 to a public address
    (["2001:db8::1"], False),
    # IPv6 transition forms that carry an internal IPv4 address (each must be refused before any connection attempt)
    (["::127.0.0.1"], False),  # IPv4-compatible
    (["::ffff:0:7f00:1"], False),  # SIIT
    (["64:ff9b:1::7f00:1"], False),  # local-use NAT64
    (["64:ff9b:1::5db8:d70e"], False),  # local-use NAT64 never reaches the public internet
    (["2002:7f00:1::1"], False),  # 6to4 around 127.0.0.1
    (["2002:a9fe:a9fe::1"], False),  # 6to4 around the metadata service
    (["2001:0:4136:e378:8000:63bf:3fff:fdd2"], False),  # Teredo
    (["::ffff:0:5db8:d70e"], True),  # SIIT to a public address
    (["2002:5db8:d70e::1"], True),  # 6to4 around a public address
    (["93.184.215.14", "::ffff:0:a00:1"], False),  # one bad answer among good ones is enough
])
def test_pin_vets_every_answer(answers: list[str], allowed: bool) -> None:
    resolver = CountingResolver({PARTNER: answers})
    if allowed:
        assert pin(f"https://{PARTNER}/n", allow_insecure=False, resolve=resolver).addresses == tuple(answers)
    else:
        with pytest.raises(EndpointRefused):
            pin(f"https://{PARTNER}/n", allow_insecure=False, resolve=resolver)
    assert len(resolver.asked) == 1


def test_a_literal_address_is_not_looked_up() -> None:
    resolver = CountingResolver({})
    assert pin("https://93.184.215.14:8443/n", allow_insecure=False, resolve=resolver).addresses == ("93.184.215.14",)
    assert resolver.asked == []
    with pytest.raises(Unresolvable):
        pin(f"https://{PARTNER}/n", allow_insecure=False, resolve=resolver)


def test_local_stage_pins_loopback_answers_without_refusing_them() -> None:
    target = pin(f"http://{PARTNER}:8000/n", allow_insecure=True, resolve=CountingResolver({PARTNER: ["127.0.0.1"]}))
    assert target.addresses == ("127.0.0.1",)



@pytest.mark.parametrize(("url", "problem"), [
    (f"https://{PARTNER}:99999/n", "port"),
    (f"https://{PARTNER}:0/n", "port"),
    (f"https://user:secret@{PARTNER}/n", "credentials"),
    (f"https://{PARTNER}/n\x01", "control"),
    ("https://[::127.0.0.1]/n", "private"),
    ("https://[64:ff9b:1::7f00:1]/n", "private"),
    ("https://[2002:7f00:1::1]/n", "private"),
])
def test_endpoint_urls_that_can_never_work_or_leak_are_refused(url: str, problem: str) -> None:
    """Refused at save time and again at send time (a definition stored before the rule existed)."""
    from chalicelib.core.url_policy import check_url

    with pytest.raises(EndpointRefused, match=problem):
        check_url(url, allow_insecure=False)
    with pytest.raises(EndpointRefused, match=problem):
        pin(url, allow_insecure=False, resolve=CountingResolver({PARTNER: ["93.184.215.14"]}))
    if problem in {"port", "credentials", "control"}:  # refused on every stage, local too
        with pytest.raises(EndpointRefused, match=problem):
            check_url(url, allow_insecure=True)


def test_a_stored_endpoint_with_a_bad_port_fails_once_instead_of_raising() -> None:
    outcome = soap.deliver(payload(f"https://{PARTNER}:99999/n"), resolve=CountingResolver({PARTNER: ["93.184.215.14"]}))
    assert isinstance(outcome, Permanent) and outcome.code == "endpoint_refused"
