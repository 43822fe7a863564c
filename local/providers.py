"""Loopback servers that speak the providers' wire protocols, for the local run and the tests.

They check what the real ones check (auth, required fields, number format), answer in the real formats
(including error bodies), record every request, and can be scripted to fail.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import ssl
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from chalicelib.soap_envelope import build_ack, parse_notifications

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
TWILIO_MESSAGES = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC[0-9a-f]{32})/Messages\.json$")


@dataclass
class Scripted:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    peer_subject: str | None = None  # the client certificate's subject CN, on TLS servers that ask for one

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8"), keep_blank_values=True).items()}


def _peer(connection: Any) -> str | None:
    certificate = connection.getpeercert() if isinstance(connection, ssl.SSLSocket) else None
    for entry in (certificate or {}).get("subject", ()):
        for key, value in entry:
            if key == "commonName":
                return str(value)
    return None


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 with a request log and a queue of scripted answers."""

    def __init__(self, port: int = 0, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.requests: list[Recorded] = []
        self.script: deque[Scripted] = deque()
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                request = Recorded(
                    "POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body, _peer(self.connection)
                )
                with outer._lock:
                    outer.requests.append(request)
                    scripted = outer.script.popleft() if outer.script else None
                answer = scripted or outer.answer(request)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for serve_forever, which never ran if never started
            self._server.shutdown()
        self._server.server_close()

    def fail_next(self, count: int, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        with self._lock:
            self.script.extend(Scripted(status, body, headers or {}) for _ in range(count))

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


class FakeTwilio(LoopbackServer):
    """POST /2010-04-01/Accounts/{AccountSid}/Messages.json, as Twilio answers it."""

    def __init__(self, account_sid: str, auth_token: str, port: int = 0) -> None:
        super().__init__(port)
        self.account_sid, self.auth_token = account_sid, auth_token

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
        if not form.get("Body") and not form.get("ContentSid"):
            return twilio_error(400, 21602, "Message body is required.")
        number = to.removeprefix("whatsapp:")
        if not E164.match(number):
            return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        sid = "SM" + secrets.token_hex(16)
        body = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": to,
            "from": sender,
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
