"""Stream records of every DynamoDB attribute type parse, in Lambda's JSON form (binary as base64 text, as the
Lambda Developer Guide's DynamoDB example event has it) and in the Streams API's (boto3: bytes)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.triggers.stream_records import parse

PNG = b"\x89PNG\r\n\x1a\n\x00\x01"


def record(image: Callable[[Any], dict[str, Any]], binary: Any) -> dict[str, Any]:
    return {
        "eventID": "e1", "eventName": "INSERT", "eventVersion": "1.1", "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1", "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/x",
        "dynamodb": {
            "ApproximateCreationDateTime": 1764000000.0,
            "Keys": {"object_type": {"S": "Case"}, "id": {"S": "500A"}},
            "NewImage": {"object_type": {"S": "Case"}, "id": {"S": "500A"}, **image(binary)},
            "SequenceNumber": "111", "SizeBytes": 26, "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }


def every_type(binary: Any) -> dict[str, Any]:
    return {
        "Photo": {"B": binary(PNG)},
        "Thumbs": {"BS": [binary(b"\x01"), binary(b"\x02")]},
        "Address": {"M": {"City": {"S": "Lyon"}, "Seal": {"B": binary(b"\xff")}, "Zip": {"N": "69001"}}},
        "Tags": {"L": [{"S": "a"}, {"N": "1.5"}, {"BOOL": True}, {"NULL": True}, {"B": binary(b"\x00")}]},
        "Codes": {"SS": ["x", "y"]}, "Counts": {"NS": ["2", "1"]}, "Closed": {"NULL": True}, "Open": {"BOOL": False},
    }


@pytest.mark.parametrize("form", ["lambda", "streams_api"])
def test_every_attribute_type_parses(form: str) -> None:
    encode = (lambda raw: base64.b64encode(raw).decode()) if form == "lambda" else (lambda raw: raw)
    change = parse(record(every_type, encode))
    assert change is not None
    new = change.new or {}
    assert new["Photo"] == base64.b64encode(PNG).decode()
    assert sorted(new["Thumbs"]) == ["AQ==", "Ag=="]
    assert new["Address"] == {"City": "Lyon", "Seal": "/w==", "Zip": 69001}
    assert new["Tags"] == ["a", 1.5, True, None, "AA=="]
    assert sorted(new["Codes"]) == ["x", "y"] and sorted(new["Counts"]) == [1, 2]
    assert new["Closed"] is None and new["Open"] is False and new["Id"] == "500A"
