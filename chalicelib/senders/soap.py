"""Endpoint delivery: POST a SOAP envelope (anything but Ack true is a failed attempt, retried), and the
pinned, optionally client-certified POST the JSON form shares."""

from __future__ import annotations

from chalicelib.core.url_policy import EndpointRefused, Resolver, Unresolvable, pin, system_resolver
from chalicelib.models.messages import SoapPayload
from chalicelib.platform.http_client import HttpResponse, TransportError, post
from chalicelib.platform.secrets import SecretMissing
from chalicelib.platform.settings import get_settings
from chalicelib.senders.outcomes import Accepted, Outcome, Permanent, Transient
from chalicelib.soap import client_certificates
from chalicelib.soap.envelope import read_ack

HEADERS = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}


def post_to_endpoint(payload: SoapPayload, body: bytes, headers: dict[str, str], *, timeout: float | None = None,
                     resolve: Resolver = system_resolver) -> HttpResponse | Outcome:
    """The endpoint's answer, or the outcome that stopped the request before one: an address the stage's policy
    refuses, a name that does not resolve, a client certificate that cannot be loaded, a transport failure."""
    settings = get_settings()
    try:
        target = pin(payload.endpoint_url, allow_insecure=settings.allow_insecure_endpoints, resolve=resolve)
    except EndpointRefused as exc:
        return Permanent(reason=str(exc), code="endpoint_refused")
    except Unresolvable as exc:
        return Transient(reason=str(exc), code="dns")
    certificate = None
    if payload.client_certificate:
        try:
            certificate = client_certificates.load(payload.client_certificate)
        except (SecretMissing, client_certificates.BadCertificate, ValueError) as exc:
            # Not retried on its own: an operator fixes the secret, then retries the message.
            return Permanent(reason=f"client certificate: {exc}", code="client_certificate")
    try:
        return post(
            payload.endpoint_url,
            body,
            headers,
            timeout=timeout or settings.http_timeout_seconds,
            max_bytes=settings.http_max_response_bytes,
            cert_file=certificate.cert_file if certificate else None,
            key_file=certificate.key_file if certificate else None,
            ca_certs=settings.http_ca_bundle,
            addresses=target.addresses,
        )
    except TransportError as exc:
        return Transient(reason=str(exc), code="transport")


def deliver(payload: SoapPayload, *, resolve: Resolver = system_resolver) -> Outcome:
    answer = post_to_endpoint(payload, payload.envelope.encode("utf-8"), HEADERS, resolve=resolve)
    if not isinstance(answer, HttpResponse):
        return answer
    acked, reason = read_ack(answer.body)
    if 200 <= answer.status < 300 and acked:
        return Accepted(provider_message_id=None, state="delivered")
    return Transient(reason=f"HTTP {answer.status}: {reason or 'not acknowledged'}", code=str(answer.status))
