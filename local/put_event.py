"""`python -m local.put_event`: what `aws events put-events` does, against `make run`'s moto server (its
EventBridge holds the stack's rule, so the event reaches on_record_event as it would in AWS). For the walkthrough
on a machine without the AWS CLI."""

from __future__ import annotations

import argparse
import json

import boto3

from local.runtime import REGION


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", required=True)
    parser.add_argument("--detail-type", required=True)
    parser.add_argument("--detail", required=True, help="the event's detail, a JSON object")
    parser.add_argument("--bus", default="default")
    parser.add_argument("--moto-port", type=int, default=5055)
    args = parser.parse_args()
    events = boto3.client("events", endpoint_url=f"http://127.0.0.1:{args.moto_port}", region_name=REGION,
                          aws_access_key_id="local", aws_secret_access_key="local")  # noqa: S106 - moto's
    answer = events.put_events(Entries=[{"Source": args.source, "DetailType": args.detail_type,
                                         "Detail": json.dumps(json.loads(args.detail)), "EventBusName": args.bus}])
    print(json.dumps({"FailedEntryCount": answer["FailedEntryCount"], "Entries": answer["Entries"]}))


if __name__ == "__main__":
    main()
