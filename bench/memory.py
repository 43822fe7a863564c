"""Peak RSS of one Lambda-like process: a sender handling a batch of 10, the trigger handling 100 stream records.

Run as `python -m bench.memory sender|stream <object_type>` in a child process with the stage's environment
(the parent has queued the work); prints `<rss after importing app.py, KiB> <peak rss, KiB>`.
"""

from __future__ import annotations

import sys
from pathlib import Path


def _peak_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    # A child starts with its parent's pages counted in its high-water mark: reset it (Linux >= 4.0).
    Path("/proc/self/clear_refs").write_text("5")
    kind = sys.argv[1]
    import app

    baseline = _peak_rss_kib()
    if kind == "sender":
        from chalicelib.platform import aws
        from chalicelib.platform.settings import get_settings
        from local.runtime import sqs_batch

        name = get_settings().queue_name("sms")
        sqs = aws.client("sqs")
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        received = sqs_batch(sqs, url, f"arn:aws:sqs:us-east-1:123456789012:{name}", app.send_sms, 10, 5)
        assert received == 10, received
    else:
        from bench.throughput import stream_batches

        result = app.on_record_change({"Records": stream_batches(sys.argv[2], 100)[0]}, None)
        assert not result["batchItemFailures"], result
    print(baseline, _peak_rss_kib())


if __name__ == "__main__":
    main()
