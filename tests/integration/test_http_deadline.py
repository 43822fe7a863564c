"""A whole-request deadline: a listener that answers one byte at a time cannot hold a sender past its HTTP
timeout (urllib3's read timeout alone restarts with every byte)."""

from __future__ import annotations

import pytest

from chalicelib.platform.http_client import TransportError, post
from local.providers import FakeSoapListener


@pytest.mark.parametrize("pause", [0.05, 0.3])
def test_a_trickling_answer_ends_at_the_deadline(pause: float) -> None:
    """The answer (about 55 bytes with its headers) takes ~3 s at 0.05 s a byte and ~17 s at 0.3 s; every byte
    arrives well within the 1 s read timeout, so only a whole-request deadline can end the request at 1 s."""
    listener = FakeSoapListener().start()
    try:
        listener.fault_next(1, "trickle", pause)
        with pytest.raises(TransportError, match="deadline"):
            post(listener.url + "/trickle", b"<x/>", {"Content-Type": "text/xml"}, timeout=1.0, max_bytes=1_000_000)
        # The next request on a fresh connection is answered normally: nothing is left armed.
        answer = post(listener.url + "/ok", b"<x/>", {"Content-Type": "text/xml"}, timeout=5.0, max_bytes=1_000_000)
        assert answer.status == 500  # the listener cannot parse <x/>: a real answer, in full
    finally:
        listener.stop()
