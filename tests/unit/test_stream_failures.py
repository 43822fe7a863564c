"""The on-failure pointer to a range the stream no longer holds: DynamoDB Streams answers
TrimmedDataAccessException (moto's server answers a 500 instead, so this is checked with botocore's Stubber,
which validates the request against the service model)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from chalicelib.platform import aws
from chalicelib.triggers import stream_failures
from chalicelib.triggers.stream_failures import BatchInfo

SHARD = "shardId-00000001541626099285-f35f62ef"
ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/outbound-local-records/stream/2026-11-25T00:00:00.000"


@pytest.fixture
def streams() -> Iterator[Stubber]:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    client = boto3.client("dynamodbstreams", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        aws._clients["dynamodbstreams"] = client
        yield stubber
    aws._clients.pop("dynamodbstreams", None)


def test_a_trimmed_range_is_recorded_as_lost(streams: Stubber, monkeypatch: pytest.MonkeyPatch) -> None:
    saved: list[Any] = []
    monkeypatch.setattr(stream_failures, "save", saved.append)
    streams.add_client_error("get_shard_iterator", service_error_code="TrimmedDataAccessException",
                             service_message="the requested data is beyond the trim horizon")
    info = BatchInfo(shardId=SHARD, startSequenceNumber="1" * 21, endSequenceNumber="2" * 21, streamArn=ARN)
    assert stream_failures.replay_range(info) == 1
    assert saved[0].record is None and "no longer holds" in saved[0].reason
    assert saved[0].end_sequence_number == "2" * 21
