"""moto's server in a process of its own, for runs where speed matters more than a shared test clock (`make load`,
`make run --fast`): the emulator then has its own interpreter and core instead of sharing one with every handler
and poller. The same corrections apply (atomic DynamoDB writes, a receive that does not scan the queue); SQS delays
follow the wall clock, since the shiftable test clock lives in the other process.

    python -m local.moto_process <port>
"""

from __future__ import annotations

import logging
import signal
import sys
import threading


class SkippedTypes(logging.Filter):
    """Drops moto's "No Moto CloudFormation support for <type>" lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("No Moto CloudFormation support for ")


def quiet_moto() -> None:
    """moto's CloudFormation says, once per resource, which types it skips (alarms, policies, subscriptions):
    the runtime creates what it needs of those itself (local/runtime.py), so the lines are noise on every start."""
    import logging
    import warnings

    moto_log = logging.getLogger("moto")  # moto's parsing logs through its package logger
    if not any(isinstance(f, SkippedTypes) for f in moto_log.filters):
        moto_log.addFilter(SkippedTypes())
    warnings.filterwarnings("ignore", message="Tried to parse .* not supported by moto's CloudFormation")


def main() -> None:
    import logging

    from moto.server import ThreadedMotoServer

    from local import atomic_dynamodb, lazy_sqs

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access line per request
    quiet_moto()
    atomic_dynamodb.serialise()
    lazy_sqs.patch()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]), verbose=False)
    server.start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    # Ctrl-C reaches the whole process group: the runtime, not moto, decides when moto stops (after `make run`
    # has written its data out, local/persistence.py), and stops it with SIGTERM.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stopped.wait()
    server.stop()


if __name__ == "__main__":
    main()
