"""One sender invocation in a process of its own, so a fault test can kill it mid-batch:
`python -m tests.e2e.sender_process <queue> <function>` receives one batch, hands it to the app's handler
(as Lambda's SQS event source would), deletes what succeeded and exits. The environment (moto's endpoint,
provider URLs, stage settings) comes from the parent, the test process running the local runtime."""

from __future__ import annotations

import sys


def main(queue_name: str, function: str) -> int:
    from local.runtime import ROOT, sqs_batch

    sys.path.insert(0, str(ROOT))
    import app
    from chalicelib.platform import aws

    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    received = sqs_batch(sqs, url, arn, getattr(app, function), 10, 5)
    print(f"received {received}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2]))
