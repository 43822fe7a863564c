"""Wiring only: event sources to functions in chalicelib, and the API's blueprints (routes beside their handlers)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalice import Chalice, Rate

from chalicelib.api import authorizer
from chalicelib.core.deploy_guard import refusal
from chalicelib.platform.queue_names import placeholder_arn

if TYPE_CHECKING:
    from chalice.app import CloudWatchEvent, DynamoDBEvent, Request, Response, SQSEvent

    from chalicelib.models.messages import QueueBody

if refusal(sys.argv):
    raise SystemExit(refusal(sys.argv))

app = Chalice(app_name="outbound")
app.register_blueprint(authorizer.blueprint)  # its own function loads chalicelib/api/authorizer.py alone


@app.middleware("http")
def uniform_errors(event: Request, get_response: Callable[[Request], Response]) -> Response:
    from chalicelib.api.http import uniform_error

    return uniform_error(get_response(event))


# The real stream ARN is known only once the table exists: infra/template.yaml's merge overrides this
# placeholder in the packaged template, the local runtime sets the real one before importing this module.
RECORDS_STREAM_ARN = os.environ.get(
    "RECORDS_STREAM_ARN", "arn:aws:dynamodb:us-east-1:000000000000:table/outbound-records/stream/placeholder"
)


# --- event sources -------------------------------------------------------------------------------


# Batching windows: a lone change or message waits at most this long for company, so a quiet stage's changes
# still become one SOAP message of many and a sender's invocation carries more than one message (priced by
# `make bench-prices`: a lone message against a busy one). Each queue hides a message for 6 x its consumer's
# timeout plus its window (tests/integration/test_aws_rules.py).
STREAM_WINDOW_SECONDS = 2
QUEUE_WINDOW_SECONDS = 1


@app.on_dynamodb_record(stream_arn=RECORDS_STREAM_ARN, batch_size=100, starting_position="TRIM_HORIZON",
                        maximum_batching_window_in_seconds=STREAM_WINDOW_SECONDS)
def on_record_change(event: DynamoDBEvent) -> Any:
    from chalicelib.triggers import stream

    return stream.handle(event.to_dict()["Records"])


@app.on_sqs_message(queue_arn=placeholder_arn("stream-failures"), batch_size=1, name="on_stream_failure")
def on_stream_failure(event: SQSEvent) -> Any:
    """Lambda's on-failure record for a stream batch it gave up on: re-read the range while the stream holds it."""
    from chalicelib.triggers import stream_failures

    return stream_failures.handle(event.to_dict()["Records"])


# The team's EventBridge events that objects declare as their record changes, queued by the stack's rule
# (infra/template.yaml: RecordEventsRule) and written as records (triggers/record_events.py).
@app.on_sqs_message(queue_arn=placeholder_arn("record-events"), batch_size=10, name="on_record_event",
                    maximum_batching_window_in_seconds=QUEUE_WINDOW_SECONDS)
def on_record_event(event: SQSEvent) -> Any:
    from chalicelib.triggers import record_events

    return record_events.handle(event.to_dict()["Records"])


# What people text to the stage's End User Messaging numbers: published by the service to the stack's topic,
# delivered raw to this queue (infra/template.yaml: InboundSmsTopic), written by operations/eum_inbound.py.
@app.on_sqs_message(queue_arn=placeholder_arn("inbound-sms"), batch_size=10, name="on_inbound_sms",
                    maximum_batching_window_in_seconds=QUEUE_WINDOW_SECONDS)
def on_inbound_sms(event: SQSEvent) -> Any:
    from chalicelib.operations import eum_inbound

    return eum_inbound.handle(event.to_dict()["Records"])


@app.schedule(Rate(1, unit=Rate.MINUTES))
def on_minute(event: CloudWatchEvent) -> Any:
    from chalicelib.triggers import sweep

    return sweep.tick()


# End User Messaging SMS sends its delivery events to the account's default event bus (operations/eum_events.py).
@app.on_cw_event({"source": ["aws.sms-voice"], "detail-type": ["Text Message Delivery Status Updated"]},
                 name="on_sms_event")
def on_sms_event(event: CloudWatchEvent) -> Any:
    from chalicelib.operations import eum_events

    return eum_events.handle(event.detail)


@app.lambda_function(name="scheduled_send")
def scheduled_send(event: dict[str, Any], context: Any) -> Any:
    """The target of every EventBridge Scheduler schedule of sends, ours and operators' (README: Schedules)."""
    from chalicelib.triggers import scheduled

    return scheduled.fire(event)


@app.lambda_function(name="webhooks")
def webhooks_url(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Provider callbacks through the stack's Lambda function URL (infra/template.yaml: WebhooksUrl)."""
    from chalicelib.api import function_url

    return function_url.handle(event)


def _fallback_check(channel: str, body: QueueBody) -> None:
    """Channel fallback's checks travel on the channel queues; imported only when one arrives."""
    from chalicelib.triggers import fallback

    fallback.check(channel, body)


def _sender(channel: str) -> Callable[[SQSEvent], dict[str, list[dict[str, str]]]]:
    def handler(event: SQSEvent) -> dict[str, list[dict[str, str]]]:
        from chalicelib.senders import pipeline

        context: Any = event.context  # Lambda's context object (Chalice types it as a dict)
        return pipeline.handle_batch(channel, event.to_dict()["Records"], context, on_check=_fallback_check)

    handler.__name__ = f"send_{channel}"
    return handler


def _sqs(channel: str) -> Callable[[Callable[[SQSEvent], Any]], Any]:
    return app.on_sqs_message(queue_arn=placeholder_arn(channel), batch_size=10, name=f"send_{channel}",
                              maximum_batching_window_in_seconds=QUEUE_WINDOW_SECONDS)


send_soap = _sqs("soap")(_sender("soap"))
send_sms = _sqs("sms")(_sender("sms"))
send_whatsapp = _sqs("whatsapp")(_sender("whatsapp"))
send_twitter = _sqs("twitter")(_sender("twitter"))


# --- API -----------------------------------------------------------------------------------------

# Routes live beside their handlers, one blueprint per resource (chalicelib/api/). Only the function that serves
# HTTP loads them: Lambda names each function's entry point in _HANDLER, and the API's is "app.app"; packaging,
# the local runtime and the tests set none and see every route. A sender or the stream trigger never imports them.
if os.environ.get("_HANDLER", "app.app") == "app.app":
    from chalicelib.api import (
        activity,
        configurations,
        consent,
        console,
        definitions,
        delivery_queue,
        endpoints,
        messages,
        objects,
        records,
        reference_listener,
        replays,
        rules,
        schedules,
        sends,
        service,
        stream_failures,
        templates,
        webhooks,
    )

    for resource in (service, console, objects, records, definitions, delivery_queue, endpoints, replays, rules,
                     templates, configurations, sends, schedules, messages, stream_failures, consent, webhooks,
                     activity, reference_listener):
        app.register_blueprint(resource.routes)
