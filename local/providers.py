"""Loopback servers that speak the providers' wire protocols, for the local run and the tests.

They check what the real ones check (auth, required fields, number format), answer in the real formats
(including error bodies), record every request, and can be scripted to fail.
"""

from __future__ import annotations

import base64
import copy
import json
import random
import re
import secrets
import ssl
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, urlencode

from chalicelib.core import clock
from chalicelib.soap.envelope import build_ack, parse_notifications

INSPECT_PATH = "/_received"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
TWILIO_MESSAGES = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC[0-9a-f]{32})/Messages\.json$")


@dataclass
class Scripted:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    # Faults: "drop" closes the connection without an answer; "hang" waits `hang_seconds`, then drops;
    # "pass" answers as the provider would; "slow" does too, after `hang_seconds`; "trickle" answers as the
    # provider would, one byte every `hang_seconds` (headers included).
    fault: str | None = None
    hang_seconds: float = 0.0


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    peer_subject: str | None = None  # the client certificate's subject CN, on TLS servers that ask for one
    answered: int | None = None  # the status sent back (None: the connection was dropped)
    # when it arrived, on the shiftable clock the tests move (pacing is judged on it)
    received_at: float = field(default_factory=lambda: clock.now().timestamp())

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8"), keep_blank_values=True).items()}


def _peer(connection: Any) -> str | None:
    certificate: Any = connection.getpeercert() if isinstance(connection, ssl.SSLSocket) else None
    for entry in (certificate or {}).get("subject", ()):
        for key, value in entry:
            if key == "commonName":
                return str(value)
    return None


class _Handler(BaseHTTPRequestHandler):
    """One request to a LoopbackServer: logged, then answered by its script or its `answer`."""

    @property
    def outer(self) -> LoopbackServer:
        return self.server.loopback  # type: ignore[attr-defined]

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if method == "GET" and self.path == INSPECT_PATH:
            self._reply(self.outer.inspection())
            return
        request = Recorded(
            method, self.path, {k.lower(): v for k, v in self.headers.items()}, body, _peer(self.connection)
        )
        with self.outer._lock:
            self.outer.requests.append(request)
            scripted = self.outer.script.popleft() if self.outer.script else None
            if scripted is None and self.outer.random_faults and self.outer._rng.random() < self.outer.fault_rate:
                scripted = self.outer._rng.choice(self.outer.random_faults)
            self.outer.in_flight += 1
            self.outer.most_in_flight = max(self.outer.most_in_flight, self.outer.in_flight)
        try:
            self._answer(request, scripted)
        finally:
            with self.outer._lock:
                self.outer.in_flight -= 1

    def _answer(self, request: Recorded, scripted: Scripted | None) -> None:
        if self.outer.delay_seconds:
            time.sleep(self.outer.delay_seconds)
        if scripted is not None and scripted.fault in {"pass", "slow"}:
            time.sleep(scripted.hang_seconds)
            scripted = None
        if scripted is not None and scripted.fault == "trickle":
            self._trickle(self.outer.answer(request), scripted.hang_seconds)
            return
        answer = scripted or self.outer.answer(request)
        request.answered = None if answer.fault else answer.status
        self._reply(answer)

    def _trickle(self, answer: Scripted, pause: float) -> None:
        head = f"HTTP/1.1 {answer.status} OK\r\nContent-Length: {len(answer.body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in answer.headers.items()) + "\r\n"
        try:
            for byte in head.encode() + answer.body:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(pause)
        except OSError:
            pass  # the client gave up: what a trickling server is for
        self.close_connection = True

    def _reply(self, answer: Scripted) -> None:
        if answer.fault:
            time.sleep(answer.hang_seconds)
            self.close_connection = True
            return
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 with a request log and a queue of scripted answers."""

    def __init__(self, port: int = 0, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.requests: list[Recorded] = []
        self.script: deque[Scripted] = deque()
        self._lock = threading.Lock()
        # Load tests: this share of requests (not scripted) gets one of `random_faults`, after `delay_seconds`.
        self.fault_rate = 0.0
        self.random_faults: list[Scripted] = []
        self.delay_seconds = 0.0
        self.in_flight = 0
        self.most_in_flight = 0  # how many requests it held at once, at most (a sender's concurrency, seen)
        self._rng = random.Random(7)  # noqa: S311 - fault injection, not security
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self._server.loopback = self  # type: ignore[attr-defined]  # what _Handler answers for
        self._server.daemon_threads = True
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for serve_forever, which never ran if never started
            self._server.shutdown()
        self._server.server_close()

    def inspection(self) -> Scripted:
        """GET /_received (local only, not part of any provider's API): the last requests, to see what arrived."""
        with self._lock:
            recent = list(self.requests)[-50:]
        shown = []
        for r in recent:
            text = r.body.decode("utf-8", "replace")
            content = r.form() if "x-www-form-urlencoded" in r.headers.get("content-type", "") else text[:2000]
            shown.append({"method": r.method, "path": r.path, "body": content})
        return Scripted(
            200, json.dumps({"received": shown}, ensure_ascii=False).encode(), {"Content-Type": "application/json"}
        )

    def fail_next(self, count: int, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        with self._lock:
            self.script.extend(Scripted(status, body, headers or {}) for _ in range(count))

    def fault_next(self, count: int, fault: str, hang_seconds: float = 0.0) -> None:
        with self._lock:
            self.script.extend(Scripted(0, b"", {}, fault, hang_seconds) for _ in range(count))

    def answer(self, request: Recorded) -> Scripted:
        raise NotImplementedError


def twilio_error(status: int, code: int, message: str) -> Scripted:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return Scripted(status, json.dumps(body).encode(), {"Content-Type": "application/json"})


# Where a callback URL is really reached, for URLs this machine cannot resolve (the deploy rehearsal's
# execute-api host names): URL -> (URL to connect to, extra headers such as the original Host).
Route = Callable[[str], tuple[str, dict[str, str]]]


def _signed_post(url: str, auth_token: str, params: dict[str, str], route: Route | None = None) -> tuple[int, bytes]:
    """POST a form the way Twilio calls webhooks: signed with the official SDK's RequestValidator, over `url`
    itself (what Twilio was given), even when `route` sends it elsewhere."""
    from twilio.request_validator import RequestValidator

    signature = RequestValidator(auth_token).compute_signature(url, params)
    target, extra = route(url) if route else (url, {})
    request = urllib.request.Request(
        target,
        data=urlencode(params).encode(),
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature, **extra},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


class FakeTwilio(LoopbackServer):
    """POST /2010-04-01/Accounts/{AccountSid}/Messages.json, as Twilio answers it; with `status_callbacks`
    on, it then calls the message's StatusCallback with `sent` and `final_status`, signed as Twilio signs."""

    def __init__(self, account_sid: str, auth_token: str, port: int = 0, status_callbacks: bool = False) -> None:
        super().__init__(port)
        self.account_sid, self.auth_token = account_sid, auth_token
        self.status_callbacks = status_callbacks
        self.final_status = "delivered"
        self.final_error_code: str | None = None
        self.callback_delay = 0.2
        self.callbacks: list[tuple[str, dict[str, str], int]] = []  # url, parameters, the answer's status
        self.route: Route | None = None
        self.inbound: dict[tuple[str, str], float] = {}  # (contact, our number) -> when the contact last wrote
        self.outside_window: list[dict[str, str]] = []  # free-text WhatsApp messages WhatsApp would fail (63016)

    def _report(self, url: str, sid: str, form: dict[str, str]) -> None:
        time.sleep(self.callback_delay)
        for status in ("sent", self.final_status):
            params = {
                "AccountSid": self.account_sid,
                "ApiVersion": "2010-04-01",
                "From": form.get("From", ""),
                "MessageSid": sid,
                "MessageStatus": status,
                "SmsSid": sid,
                "SmsStatus": status,
                "To": form.get("To", ""),
            }
            if status == self.final_status and self.final_error_code:
                params["ErrorCode"] = self.final_error_code
            answer, _ = _signed_post(url, self.auth_token, params, self.route)
            with self._lock:
                self.callbacks.append((url, params, answer))

    def send_inbound(
        self, url: str, sender: str, recipient: str, body: str, sid: str | None = None
    ) -> tuple[int, bytes]:
        """A customer's message to one of our numbers, delivered to our inbound webhook as Twilio does."""
        sid = sid or "SM" + secrets.token_hex(16)
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "Body": body,
            "From": sender,
            "MessageSid": sid,
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "SmsStatus": "received",
            "To": recipient,
        }
        with self._lock:
            pair = (sender.removeprefix("whatsapp:"), recipient.removeprefix("whatsapp:"))
            self.inbound[pair] = clock.now().timestamp()
        return _signed_post(url, self.auth_token, params, self.route)

    def answer(self, request: Recorded) -> Scripted:
        match = TWILIO_MESSAGES.match(request.path)
        if not match:
            return twilio_error(404, 20404, "The requested resource was not found")
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if request.headers.get("authorization") != expected or match["sid"] != self.account_sid:
            return twilio_error(401, 20003, "Authenticate")
        form = request.form()
        to, sender = form.get("To", ""), form.get("From", "")
        if not to:
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        service = form.get("MessagingServiceSid")
        if service is not None and not MESSAGING_SERVICE_SID.match(service):
            return twilio_error(400, 21705, "The Messaging Service Sid is invalid.")
        if not sender and service is None:
            return twilio_error(400, 21603, "A 'From' phone number is required.")
        if not form.get("Body") and not form.get("ContentSid"):
            return twilio_error(400, 21602, "Message body is required.")
        number = to.removeprefix("whatsapp:")
        if not E164.match(number):
            return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if form.get("ContentSid") is not None and not CONTENT_SID.match(form["ContentSid"]):
            return twilio_error(400, 21655, "The ContentSid is Invalid.")
        if "ContentVariables" in form and not _string_map(form["ContentVariables"]):
            return twilio_error(400, 21656, "The ContentVariables Parameter is invalid.")
        if to.startswith("whatsapp:") and not form.get("ContentSid"):
            wrote = self.inbound.get((number, sender.removeprefix("whatsapp:")))
            if wrote is None or clock.now().timestamp() >= wrote + 24 * 3600:
                # Twilio accepts it, then WhatsApp fails it with 63016 (reported by status callback).
                with self._lock:
                    self.outside_window.append(form)
        sid = "SM" + secrets.token_hex(16)
        if self.status_callbacks and form.get("StatusCallback"):
            threading.Thread(target=self._report, args=(form["StatusCallback"], sid, form), daemon=True).start()
        body = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": to,
            "from": sender or None,  # a Messaging Service picks the number after the answer
            "messaging_service_sid": service,
            "body": form.get("Body"),
            "status": "queued",
            "num_segments": "1",
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "price": None,
            "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }
        return Scripted(201, json.dumps(body).encode(), {"Content-Type": "application/json"})

    def messages(self) -> list[dict[str, str]]:
        return [r.form() for r in self.requests if TWILIO_MESSAGES.match(r.path)]


MESSAGING_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")


def _string_map(text: str) -> bool:
    """ContentVariables as Twilio takes it: a JSON object of string values."""
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return isinstance(data, dict) and all(isinstance(v, str) for v in data.values())


def _json_answer(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Scripted:
    return Scripted(status, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})})


class FakeTeleSign(LoopbackServer):
    """POST /v1/messaging, as TeleSign answers it: basic auth customer_id:api_key, form fields, status codes."""

    def __init__(self, customer_id: str, api_key: str, port: int = 0) -> None:
        super().__init__(port)
        self.customer_id, self.api_key = customer_id, api_key
        self.sent: dict[str, tuple[str, str]] = {}  # external_id -> (reference_id, callback_url)

    @staticmethod
    def status(http: int, code: int, description: str, reference: str | None = None) -> Scripted:
        body: dict[str, Any] = {
            "status": {"code": code, "description": description, "updated_on": "2026-11-24T00:00:00.000000Z"}
        }
        if reference:
            body["reference_id"] = reference
        return _json_answer(http, body)

    def answer(self, request: Recorded) -> Scripted:
        if request.path != "/v1/messaging" or request.method != "POST":
            return self.status(404, 10000, "Resource not found")
        expected = "Basic " + base64.b64encode(f"{self.customer_id}:{self.api_key}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return self.status(401, 10033, "Invalid Signature")
        form = request.form()
        for name, code in (("phone_number", 11001), ("message", 12009), ("message_type", 12017)):
            if not form.get(name):
                return self.status(400, code, f"Missing required parameter {name}")
        if not re.fullmatch(r"[1-9]\d{6,14}", form["phone_number"]):
            return self.status(400, 11000, "Invalid value for parameter phone_number")
        if form["message_type"] not in {"OTP", "ARN", "MKT"} or len(form["message"]) > 1600:
            return self.status(400, 12010, "Invalid value for parameter message_type or message")
        reference = secrets.token_hex(16).upper()
        if form.get("external_id"):
            self.sent[form["external_id"]] = (reference, form.get("callback_url", ""))
        return self.status(200, 290, "Message in progress", reference)

    def messages(self) -> list[dict[str, str]]:
        return [r.form() for r in self.requests if r.path == "/v1/messaging"]

    def report(self, external_id: str, code: int, description: str, signature: str | None = None,
               sent: tuple[str, str] | None = None) -> tuple[int, bytes]:
        """TeleSign's delivery report for a message it was sent, POSTed to that message's callback_url as TeleSign
        does: a JSON body, signed in the Authorization header with HMAC-SHA256 of the base64-decoded API key.
        `sent`: the (reference, callback_url) of an earlier send of the message (a late report), else the last."""
        from chalicelib.core import telesign_signature

        reference, url = sent or self.sent[external_id]
        body = json.dumps({"reference_id": reference, "external_id": external_id,
                           "submit_timestamp": "2026-11-25T09:00:00.000000Z",
                           "status": {"code": code, "description": description,
                                      "updated_on": "2026-11-25T09:00:02.000000Z"}}).encode()
        headers = {"Content-Type": "application/json",
                   "Authorization": signature or telesign_signature.compute(self.api_key, body)}
        request = urllib.request.Request(url, data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return int(answer.status), answer.read()
        except urllib.error.HTTPError as error:
            return int(error.code), error.read()


X_DM = re.compile(r"^/2/dm_conversations/with/(?P<participant>[0-9]+)/messages$")
X_USER = re.compile(r"^/2/users/by/username/(?P<handle>[A-Za-z0-9_]{1,15})$")


def aws_json_error(status: int, kind: str, message: str, reason: str | None = None) -> Scripted:
    """An AWS JSON 1.0 protocol error, as botocore parses it (`__type`, then the shape's members)."""
    body: dict[str, Any] = {"__type": kind, "Message": message}
    if reason:
        body["Reason"] = reason
    return Scripted(status, json.dumps(body).encode(), {"Content-Type": "application/x-amz-json-1.0",
                                                         "x-amzn-ErrorType": kind})


AWS_EXAMPLES = json.loads((Path(__file__).parent / "aws_examples" / "sms_voice_events.json").read_text())
TWO_WAY_SMS = json.loads((Path(__file__).parent / "aws_examples" / "two_way_sms.json").read_text())["inbound"]


def two_way_sms(origination: str, destination: str, body: str) -> dict[str, Any]:
    """What End User Messaging publishes when `destination` (ours) receives `body` from `origination`: AWS's
    documented example with these values (a keyword is named only when the body is a registered one)."""
    keyword = body.strip().upper()
    return {**TWO_WAY_SMS, "originationNumber": origination, "destinationNumber": destination, "messageBody": body,
            "messageKeyword": keyword if keyword in {"STOP", "HELP", "START", "UNSUBSCRIBE"} else "",
            "inboundMessageId": str(uuid.uuid4())}


def eum_event(event_type: str, message_id: str, params: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A delivery event as End User Messaging puts it on the bus: AWS's documented example (delivered, or sent
    for TEXT_SUCCESSFUL) with this send's identity, numbers, Context and times, and the event type asked for."""
    example = copy.deepcopy(AWS_EXAMPLES["successful" if event_type == "TEXT_SUCCESSFUL" else "delivered"])
    millis = int(now.timestamp() * 1000)
    example.update({"id": str(uuid.uuid4()), "account": "123456789012", "region": "us-east-1",
                    "time": now.strftime("%Y-%m-%dT%H:%M:%SZ")})
    example["detail"].update({
        "eventType": event_type, "eventTimestamp": millis, "messageRequestTimestamp": millis,
        "messageId": message_id, "originationPhoneNumber": params["OriginationIdentity"],
        "destinationPhoneNumber": params["DestinationPhoneNumber"],
        "messageType": params.get("MessageType", example["detail"]["messageType"]),
        "messageStatus": event_type.removeprefix("TEXT_"), "context": params.get("Context") or {}})
    return dict(example)


class FakeEndUserMessaging(LoopbackServer):
    """AWS End User Messaging SMS's `SendTextMessage` (service pinpoint-sms-voice-v2, AWS JSON 1.0: POST / with
    X-Amz-Target PinpointSMSVoiceV2.SendTextMessage, SigV4-signed), as boto3 pointed at it with `endpoint_url`
    reaches it. moto has no such service. With `emit` set, each accepted message's events follow on the account's
    default bus, shaped as AWS documents them: TEXT_SUCCESSFUL, then `final_event` (default TEXT_DELIVERED)."""

    TARGET = "PinpointSMSVoiceV2.SendTextMessage"
    OPT_OUT_TARGETS = ("PinpointSMSVoiceV2.PutOptedOutNumber", "PinpointSMSVoiceV2.DeleteOptedOutNumber")
    OPT_OUT_LIST = "Default"  # every account's own list, the one a new phone number is associated with

    def __init__(self, port: int = 0, emit: Callable[[dict[str, Any]], Any] | None = None) -> None:
        super().__init__(port)
        self.emit = emit
        self.final_event = "TEXT_DELIVERED"
        self.opted_out: set[str] = set()
        self.event_delay = 0.2

    def _opt_out_list(self, target: str, params: dict[str, Any]) -> Scripted:
        """PutOptedOutNumber / DeleteOptedOutNumber on the account's Default list, as AWS answers them."""
        number = str(params.get("OptedOutNumber", ""))
        if params.get("OptOutListName") != self.OPT_OUT_LIST:
            return aws_json_error(404, "ResourceNotFoundException", "opt-out list not found")
        if not E164.match(number):
            return aws_json_error(400, "ValidationException", "OptedOutNumber must be an E.164 phone number",
                                  "FIELD_VALIDATION_FAILED")
        with self._lock:
            if target.endswith("PutOptedOutNumber"):
                self.opted_out.add(number)
            elif number in self.opted_out:
                self.opted_out.discard(number)
            else:
                return aws_json_error(404, "ResourceNotFoundException", "opted out number not found")
        body = {"OptOutListName": self.OPT_OUT_LIST, "OptedOutNumber": number,
                "OptedOutTimestamp": clock.now().timestamp(), "EndUserOptedOut": False}
        return Scripted(200, json.dumps(body).encode(), {"Content-Type": "application/x-amz-json-1.0"})

    def answer(self, request: Recorded) -> Scripted:
        target = request.headers.get("x-amz-target")
        if request.method != "POST" or request.path != "/" or target not in (self.TARGET, *self.OPT_OUT_TARGETS):
            return aws_json_error(400, "UnknownOperationException", "unknown operation")
        if not request.headers.get("authorization", "").startswith("AWS4-HMAC-SHA256 Credential=") or \
                "/sms-voice/aws4_request" not in request.headers.get("authorization", ""):
            return aws_json_error(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        try:
            params = json.loads(request.body or b"{}")
        except ValueError:
            return aws_json_error(400, "SerializationException", "body is not JSON")
        if target in self.OPT_OUT_TARGETS:
            return self._opt_out_list(str(target), params)
        problem = self._problem(params)
        if problem:
            return aws_json_error(400, "ValidationException", problem, "FIELD_VALIDATION_FAILED")
        if params["DestinationPhoneNumber"] in self.opted_out:
            return aws_json_error(400, "ConflictException", "The destination phone number is opted out.",
                                  "DESTINATION_PHONE_NUMBER_OPTED_OUT")
        message_id = str(uuid.uuid4())
        if self.emit is not None:
            threading.Thread(target=self._events, args=(message_id, params), daemon=True).start()
        return Scripted(200, json.dumps({"MessageId": message_id}).encode(),
                        {"Content-Type": "application/x-amz-json-1.0"})

    @staticmethod
    def _problem(params: dict[str, Any]) -> str | None:
        if not E164.match(str(params.get("DestinationPhoneNumber", ""))):
            return "DestinationPhoneNumber must be an E.164 phone number"
        if not params.get("OriginationIdentity") or not params.get("MessageBody"):
            return "OriginationIdentity and MessageBody are required"
        if len(params["MessageBody"]) > 1600:
            return "MessageBody is longer than 1600 characters"
        if params.get("MessageType") not in (None, "TRANSACTIONAL", "PROMOTIONAL"):
            return "MessageType must be TRANSACTIONAL or PROMOTIONAL"
        ttl = params.get("TimeToLive")
        if ttl is not None and not (isinstance(ttl, int) and 5 <= ttl <= 259_200):
            return "TimeToLive must be 5 to 259200"
        context = params.get("Context") or {}
        if len(context) > 5 or any(not k or not v or len(v) > 800 for k, v in context.items()):
            return "Context holds at most 5 non-empty entries"
        if "MaxPrice" in params and not re.fullmatch(r"[0-9]{0,2}\.[0-9]{1,5}", str(params["MaxPrice"])):
            return "MaxPrice must look like 0.05"
        return None

    def _events(self, message_id: str, params: dict[str, Any]) -> None:
        for event_type in ("TEXT_SUCCESSFUL", self.final_event):
            time.sleep(self.event_delay)
            assert self.emit is not None
            self.emit(eum_event(event_type, message_id, params, clock.now()))

    def sent(self) -> list[dict[str, Any]]:
        return [json.loads(r.body) for r in self.requests if r.headers.get("x-amz-target") == self.TARGET]


def x_problem(status: int, title: str, detail: str, kind: str, headers: dict[str, str] | None = None) -> Scripted:
    body = {"title": title, "detail": detail, "type": f"https://api.twitter.com/2/problems/{kind}", "status": status}
    return Scripted(status, json.dumps(body).encode(), {"Content-Type": "application/problem+json", **(headers or {})})


class FakeX(LoopbackServer):
    """X API v2: user lookup by username and DMs, with OAuth 2.0 bearer tokens per account, users who do not
    accept DMs (403) and a per-token request limit (429 with x-rate-limit-reset)."""

    def __init__(self, tokens: dict[str, str], port: int = 0) -> None:
        super().__init__(port)
        self.tokens = tokens  # bearer token -> our account's user id
        self.users: dict[str, str] = {}  # handle (lowercase) -> user id
        self.closed_dms: set[str] = set()
        self.dm_limit: int | None = None
        self.sent_per_token: dict[str, int] = {}
        self.clients: dict[str, str | None] = {}  # OAuth 2.0 clients: client_id -> secret (None: a public client)
        self.rotate_refresh_tokens = True  # False: answer without a new refresh token (RFC 6749 section 6 allows it)
        self.refresh_tokens: dict[str, str] = {}  # single-use refresh token -> user id
        self.refreshes: list[Recorded] = []

    def authorize(self, client_id: str, client_secret: str | None, user_id: str) -> str:
        """A user authorised our app (offline.access): the refresh token the authorisation gave."""
        self.clients[client_id] = client_secret
        token = secrets.token_urlsafe(32)
        self.refresh_tokens[token] = user_id
        return token

    def expire(self, access_token: str) -> None:
        """The 2-hour access token ran out (or was revoked): X answers 401 from now on."""
        self.tokens.pop(access_token, None)

    def _token(self, request: Recorded) -> Scripted:
        """POST /2/oauth2/token, grant_type=refresh_token: a new access token and a new refresh token; the old
        refresh token is spent (single use, as developers report X's are)."""
        self.refreshes.append(request)
        form = request.form()
        basic = (request.headers.get("authorization") or "").removeprefix("Basic ")
        if basic:  # a confidential client authenticates with Basic auth
            try:
                client_id, _, secret = base64.b64decode(basic).decode().partition(":")
            except ValueError:
                client_id, secret = "", ""
            known = bool(client_id) and self.clients.get(client_id) == secret
        else:  # a public client (PKCE) names itself in the body, and has no secret
            client_id = form.get("client_id", "")
            known = bool(client_id) and client_id in self.clients and self.clients[client_id] is None
        if not known:
            return _json_answer(401, {"error": "unauthorized_client",
                                      "error_description": "Missing valid authorization header"})
        spent = form.get("refresh_token", "")
        user = (self.refresh_tokens.pop(spent, None) if self.rotate_refresh_tokens
                else self.refresh_tokens.get(spent))
        if form.get("grant_type") != "refresh_token" or user is None:
            return _json_answer(400, {"error": "invalid_request",
                                      "error_description": "Value passed for the token was invalid."})
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self.tokens[access] = user
        answer = {"token_type": "bearer", "expires_in": 7200, "access_token": access,
                  "scope": "tweet.read users.read dm.read dm.write offline.access"}
        if self.rotate_refresh_tokens:
            self.refresh_tokens[refresh] = user
            answer["refresh_token"] = refresh
        return _json_answer(200, answer)

    def answer(self, request: Recorded) -> Scripted:
        if request.method == "POST" and request.path == "/2/oauth2/token":
            return self._token(request)
        token = (request.headers.get("authorization") or "").removeprefix("Bearer ")
        if token not in self.tokens:
            return x_problem(401, "Unauthorized", "Unauthorized", "not-authorized-for-resource")
        user = X_USER.match(request.path)
        if request.method == "GET" and user:
            found = self.users.get(user["handle"].lower())
            if found is None:
                body = {
                    "errors": [
                        {
                            "value": user["handle"],
                            "detail": f"Could not find user with username: [{user['handle']}].",
                            "title": "Not Found Error",
                            "resource_type": "user",
                            "parameter": "username",
                            "type": "https://api.twitter.com/2/problems/resource-not-found",
                        }
                    ]
                }
                return _json_answer(200, body)
            return _json_answer(200, {"data": {"id": found, "name": user["handle"], "username": user["handle"]}})
        dm = X_DM.match(request.path)
        if request.method != "POST" or not dm:
            return x_problem(404, "Not Found Error", "no such endpoint", "resource-not-found")
        if self.dm_limit is not None and self.sent_per_token.get(token, 0) >= self.dm_limit:
            reset = str(int(time.time()) + 1)
            return x_problem(
                429,
                "Too Many Requests",
                "Too Many Requests",
                "rate-limit",
                {"x-rate-limit-reset": reset, "x-rate-limit-remaining": "0"},
            )
        try:
            text = json.loads(request.body).get("text")
        except (ValueError, AttributeError):
            text = None
        if not text or request.headers.get("content-type") != "application/json":
            return x_problem(
                400, "Invalid Request", "One or more parameters to your request was invalid.", "invalid-request"
            )
        if dm["participant"] in self.closed_dms:
            return x_problem(403, "Forbidden", "You cannot send messages to this user.", "dm-permission")
        self.sent_per_token[token] = self.sent_per_token.get(token, 0) + 1
        event = str(secrets.randbelow(10**18) + 10**18)
        return _json_answer(
            201, {"data": {"dm_conversation_id": f"{self.tokens[token]}-{dm['participant']}", "dm_event_id": event}}
        )

    def messages(self) -> list[tuple[str, str, str]]:
        """(bearer token, participant id, text) of every DM accepted or refused."""
        out = []
        for r in self.requests:
            match = X_DM.match(r.path)
            if match and r.method == "POST":
                token = (r.headers.get("authorization") or "").removeprefix("Bearer ")
                out.append((token, match["participant"], json.loads(r.body).get("text", "")))
        return out


class FakeSoapListener(LoopbackServer):
    """A partner's outbound-message listener: parses, remembers notification ids, acks."""

    def __init__(self, port: int = 0, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(port, tls)
        self.notification_ids: list[str] = []

    def answer(self, request: Recorded) -> Scripted:
        try:
            parsed = parse_notifications(request.body)
        except Exception:  # noqa: BLE001
            return Scripted(500, b"cannot parse")
        self.notification_ids.extend(n.id for n in parsed.notifications)
        return Scripted(200, build_ack(True), {"Content-Type": "text/xml; charset=utf-8"})


class FakeWebhookListener(LoopbackServer):
    """A partner's JSON webhook endpoint: records every request and answers 204; tests script other answers and
    verify what it received with the `standardwebhooks` library, as a partner would."""

    def answer(self, request: Recorded) -> Scripted:
        return Scripted(204, b"")

    def deliveries(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST"]
