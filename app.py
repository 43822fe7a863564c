"""Wiring only: routes and event sources to functions in chalicelib."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from chalice import Chalice, Rate, Response

from chalicelib.api.http import endpoint, reply
from chalicelib.core.deploy_guard import refusal
from chalicelib.platform import api_keys
from chalicelib.platform.lazy import LazyModule
from chalicelib.platform.queue_names import placeholder_arn

if TYPE_CHECKING:
    from chalice.app import AuthRequest, AuthResponse, CloudWatchEvent, DynamoDBEvent, Request, SQSEvent

    from chalicelib.models.messages import QueueBody

if refusal(sys.argv):
    raise SystemExit(refusal(sys.argv))

app = Chalice(app_name="outbound")


@app.authorizer(ttl_seconds=api_keys.cache_seconds())
def bearer_key(auth_request: AuthRequest) -> AuthResponse:
    """Management routes: `Authorization: Bearer <key>`, a key from the stage's SSM list
    (chalicelib/platform/api_keys.py). The Authorization header because chalice local only ever hands that one
    to authorizers. Webhooks sign instead. Not named `api_key`: Chalice reserves that name for API Gateway's
    usage-plan keys (`x-api-key`), and an authorizer of that name is silently replaced by them in the package."""
    from chalice import AuthResponse

    from chalicelib.platform.api_keys import allowed
    from chalicelib.platform.settings import get_settings

    settings = get_settings()
    if allowed(auth_request.token, settings.api_keys_param, settings.api_auth):
        return AuthResponse(routes=["*"], principal_id="operator")
    return AuthResponse(routes=[], principal_id="anonymous")


@app.middleware("http")
def uniform_errors(event: Request, get_response: Callable[[Request], Response]) -> Response:
    from chalicelib.api.http import uniform_error

    return uniform_error(get_response(event))


def route(path: str, **options: Any) -> Callable[[Callable[..., Any]], Any]:
    """A management route: behind the API key, on the stages that require one (API_AUTH, per stage)."""
    if api_keys.required():
        options["authorizer"] = bearer_key
    return app.route(path, **options)

# Route modules load on first request: a sender or the stream handler never imports them
# (see chalicelib/platform/lazy.py).
catalog = LazyModule("chalicelib.api.catalog")
definitions = LazyModule("chalicelib.api.definitions")
delivery_queue = LazyModule("chalicelib.api.delivery_queue")
endpoints = LazyModule("chalicelib.api.endpoints")
replays = LazyModule("chalicelib.api.replays")
messages = LazyModule("chalicelib.api.messages")
sends = LazyModule("chalicelib.api.sends")
schedules = LazyModule("chalicelib.api.schedules")
webhooks = LazyModule("chalicelib.api.webhooks")
activity = LazyModule("chalicelib.api.activity")
stream_failures = LazyModule("chalicelib.api.stream_failures")
managed = LazyModule("chalicelib.api.managed")
consent = LazyModule("chalicelib.api.consent")

# The real stream ARN is known only once the table exists: infra/template.yaml's merge overrides this
# placeholder in the packaged template, the local runtime sets the real one before importing this module.
RECORDS_STREAM_ARN = os.environ.get(
    "RECORDS_STREAM_ARN", "arn:aws:dynamodb:us-east-1:000000000000:table/outbound-records/stream/placeholder"
)


def _request() -> Request:
    """The request being served (Chalice sets it for every route call)."""
    request = app.current_request
    assert request is not None, "a route runs only while a request is served"
    return request


def _body() -> bytes | None:
    raw = _request().raw_body
    return raw.encode() if isinstance(raw, str) else raw


def _if_match() -> str | None:
    """The If-Match header of a write: only over the version it names (412 otherwise)."""
    return _request().headers.get("if-match")


def _public_url() -> str:
    """Where this request reached the API (PUBLIC_API_URL overrides): Twilio calls back and signs that URL."""
    from chalicelib.api.public_url import resolve
    from chalicelib.platform.settings import get_settings

    request = _request()
    return resolve(get_settings().public_api_url, request.headers, request.context or {},
                   request.to_original_event().get("path"))


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


@app.route("/openapi.json", methods=["GET"])
@endpoint
def openapi_document() -> Response:
    """This API's OpenAPI 3.1 document."""
    from chalicelib.api import openapi
    from chalicelib.platform.settings import get_settings

    return reply(200, openapi.document(app.routes, _public_url() or "/", get_settings().stage))


@app.route("/console", methods=["GET"])
def console() -> Response:
    """The operator console page (no key needed to load it; every call it makes carries the key typed in)."""
    from chalicelib.api import console as page

    return page.page()


@app.route("/health")
def health() -> dict[str, str]:
    from chalicelib.platform.settings import get_settings

    return {"status": "ok", "stage": get_settings().stage}


@route("/objects/{name}", methods=["PUT"])
@endpoint
def put_object(name: str) -> Response:
    return managed.put_object_schema(name, _body(), _if_match())


@route("/objects", methods=["GET"])
@endpoint
def list_objects() -> Response:
    return managed.list_object_schemas(_request().query_params)


@route("/objects/{name}", methods=["GET"])
@endpoint
def get_object(name: str) -> Response:
    return managed.get_object_schema(name)


@route("/objects/{name}", methods=["DELETE"])
@endpoint
def delete_object(name: str) -> Response:
    return managed.delete_object_schema(name, _if_match())


@route("/records/{object_type}", methods=["GET"])
@endpoint
def list_records(object_type: str) -> Response:
    return managed.list_records(object_type, _request().query_params)


@route("/records/{object_type}/{record_id}", methods=["DELETE"])
@endpoint
def delete_record(object_type: str, record_id: str) -> Response:
    return managed.delete_record(object_type, record_id)


@route("/records/{object_type}/{record_id}", methods=["PUT"])
@endpoint
def put_record(object_type: str, record_id: str) -> Response:
    return catalog.put_record(object_type, record_id, _body(), _if_match())


@route("/records/{object_type}/{record_id}", methods=["GET"])
@endpoint
def get_record(object_type: str, record_id: str) -> Response:
    return catalog.get_record(object_type, record_id)


@route("/outbound-messages", methods=["POST"])
@endpoint
def create_outbound_message() -> Response:
    return definitions.create_definition(_body())


@route("/outbound-messages", methods=["GET"])
@endpoint
def list_outbound_messages() -> Response:
    return definitions.list_definitions(_request().query_params)


# The queue routes come before /outbound-messages/{definition_id}: API Gateway prefers the literal segment.
@route("/outbound-messages/queue", methods=["GET"])
@endpoint
def list_outbound_queue() -> Response:
    return delivery_queue.list_queue(_request().query_params)


@route("/outbound-messages/queue/retry", methods=["POST"])
@endpoint
def retry_outbound_queue() -> Response:
    return delivery_queue.retry_all(_body())


@route("/outbound-messages/queue/{message_id}/retry", methods=["POST"])
@endpoint
def retry_outbound_queue_entry(message_id: str) -> Response:
    return delivery_queue.retry_one(message_id)


@route("/outbound-messages/queue/{message_id}", methods=["DELETE"])
@endpoint
def delete_outbound_queue_entry(message_id: str) -> Response:
    return delivery_queue.delete_one(message_id)


@route("/outbound-messages/{definition_id}", methods=["GET"])
@endpoint
def get_outbound_message(definition_id: str) -> Response:
    return definitions.read_definition(definition_id)


@route("/outbound-messages/{definition_id}", methods=["PUT"])
@endpoint
def update_outbound_message(definition_id: str) -> Response:
    return definitions.update_definition(definition_id, _body(), _if_match())


@route("/outbound-messages/{definition_id}", methods=["DELETE"])
@endpoint
def delete_outbound_message(definition_id: str) -> Response:
    return definitions.delete_definition(definition_id, _if_match())


@route("/outbound-messages/{definition_id}/wsdl", methods=["GET"])
@endpoint
def outbound_message_wsdl(definition_id: str) -> Response:
    return definitions.definition_wsdl(definition_id)


@route("/outbound-messages/{definition_id}/schema", methods=["GET"])
@endpoint
def outbound_message_schema(definition_id: str) -> Response:
    return definitions.definition_schema(definition_id)


@route("/outbound-messages/{definition_id}/rotate-secret", methods=["POST"])
@endpoint
def rotate_outbound_message_secret(definition_id: str) -> Response:
    return definitions.rotate_secret(definition_id, _body())


@route("/endpoints", methods=["GET"])
@endpoint
def list_endpoints() -> Response:
    return endpoints.list_endpoints(_request().query_params)


@route("/endpoints/{endpoint_id}", methods=["GET"])
@endpoint
def get_endpoint(endpoint_id: str) -> Response:
    return endpoints.get_endpoint(endpoint_id)


@route("/endpoints/{endpoint_id}/resume", methods=["POST"])
@endpoint
def resume_endpoint(endpoint_id: str) -> Response:
    return endpoints.resume_endpoint(endpoint_id)


@route("/replays", methods=["POST"])
@endpoint
def create_replay() -> Response:
    return replays.create_replay(_body(), _request().headers.get("idempotency-key"))


@route("/replays", methods=["GET"])
@endpoint
def list_replays() -> Response:
    return replays.list_replays()


@route("/replays/{replay_id}", methods=["GET"])
@endpoint
def get_replay(replay_id: str) -> Response:
    return replays.get_replay(replay_id)


@route("/rules", methods=["POST"])
@endpoint
def create_rule() -> Response:
    return definitions.create_rule(_body())


@route("/rules", methods=["GET"])
@endpoint
def list_rules() -> Response:
    return definitions.list_rules(_request().query_params)


@route("/rules/{rule_id}", methods=["GET"])
@endpoint
def get_rule(rule_id: str) -> Response:
    return definitions.get_rule(rule_id)


@route("/rules/{rule_id}", methods=["PUT"])
@endpoint
def update_rule(rule_id: str) -> Response:
    return definitions.update_rule(rule_id, _body(), _if_match())


@route("/rules/{rule_id}", methods=["DELETE"])
@endpoint
def delete_rule(rule_id: str) -> Response:
    return definitions.delete_rule(rule_id, _if_match())


@route("/templates", methods=["POST"])
@endpoint
def create_template() -> Response:
    return catalog.create_template(_body())


@route("/templates", methods=["GET"])
@endpoint
def list_templates() -> Response:
    return managed.list_templates(_request().query_params)


@route("/templates/{template_id}", methods=["GET"])
@endpoint
def get_template(template_id: str) -> Response:
    return managed.get_template(template_id)


@route("/templates/{template_id}", methods=["PUT"])
@endpoint
def update_template(template_id: str) -> Response:
    return managed.update_template(template_id, _body(), _if_match())


@route("/templates/{template_id}", methods=["DELETE"])
@endpoint
def delete_template(template_id: str) -> Response:
    return managed.delete_template(template_id, _if_match())


@route("/templates/{template_id}/preview", methods=["POST"])
@endpoint
def preview_template(template_id: str) -> Response:
    return catalog.preview_template(template_id, _body())


@route("/outbound-configurations", methods=["POST"])
@endpoint
def create_configuration() -> Response:
    return catalog.create_configuration(_body())


@route("/outbound-configurations", methods=["GET"])
@endpoint
def list_configurations() -> Response:
    return managed.list_configurations(_request().query_params)


@route("/outbound-configurations/{configuration_id}", methods=["GET"])
@endpoint
def get_configuration(configuration_id: str) -> Response:
    return managed.get_configuration(configuration_id)


@route("/outbound-configurations/{configuration_id}", methods=["PUT"])
@endpoint
def update_configuration(configuration_id: str) -> Response:
    return managed.update_configuration(configuration_id, _body(), _if_match())


@route("/outbound-configurations/{configuration_id}", methods=["DELETE"])
@endpoint
def delete_configuration(configuration_id: str) -> Response:
    return managed.delete_configuration(configuration_id, _if_match())


@route("/sends", methods=["POST"])
@endpoint
def create_send() -> Response:
    return sends.create_send(_body(), _request().headers.get("idempotency-key"), _public_url())


@route("/schedules", methods=["POST"])
@endpoint
def create_schedule() -> Response:
    return schedules.create_schedule(_body(), _request().headers.get("idempotency-key"))


@route("/schedules", methods=["GET"])
@endpoint
def list_schedules() -> Response:
    return schedules.list_schedules(_request().query_params)


@route("/schedules/{schedule_id}", methods=["GET"])
@endpoint
def get_schedule(schedule_id: str) -> Response:
    return schedules.get_schedule(schedule_id)


@route("/schedules/{schedule_id}", methods=["PATCH"])
@endpoint
def patch_schedule(schedule_id: str) -> Response:
    return schedules.patch_schedule(schedule_id, _body(), _if_match())


@route("/schedules/{schedule_id}", methods=["DELETE"])
@endpoint
def delete_schedule(schedule_id: str) -> Response:
    return schedules.delete_schedule(schedule_id, _if_match())


@route("/schedule-failures", methods=["GET"])
@endpoint
def list_schedule_failures() -> Response:
    return schedules.list_failures(_request().query_params)


@route("/schedule-failures/{failure_id}", methods=["DELETE"])
@endpoint
def delete_schedule_failure(failure_id: str) -> Response:
    return schedules.delete_failure(failure_id)


@route("/messages/{message_id}", methods=["GET"])
@endpoint
def get_message(message_id: str) -> Response:
    return messages.get_message(message_id)


@route("/messages/{message_id}/retry", methods=["POST"])
@endpoint
def retry_message(message_id: str) -> Response:
    return messages.retry_message(message_id, _body())


@route("/messages/{message_id}", methods=["DELETE"])
@endpoint
def delete_message(message_id: str) -> Response:
    return messages.delete_message(message_id)


@route("/message-health", methods=["GET"])
@endpoint
def get_message_health() -> Response:
    return messages.message_health(_request().query_params)


@route("/message-chart", methods=["GET"])
@endpoint
def get_message_chart() -> Response:
    return messages.message_chart(_request().query_params)


@route("/messages", methods=["GET"])
@endpoint
def list_messages() -> Response:
    return messages.list_messages(_request().query_params)


@route("/dlq", methods=["GET"])
@endpoint
def list_dlq_depths() -> Response:
    return messages.dlq_depths()


@route("/dlq/{channel}/redrive", methods=["POST"])
@endpoint
def redrive_dlq(channel: str) -> Response:
    return messages.redrive_dlq(channel, _body())


@route("/stream-failures", methods=["GET"])
@endpoint
def list_stream_failures() -> Response:
    return stream_failures.list_failures()


@route("/stream-failures/{failure_id}/replay", methods=["POST"])
@endpoint
def replay_stream_failure(failure_id: str) -> Response:
    return stream_failures.replay_failure(failure_id)


@route("/stream-failures/{failure_id}", methods=["DELETE"])
@endpoint
def delete_stream_failure(failure_id: str) -> Response:
    return stream_failures.delete_failure(failure_id)


@route("/consent", methods=["GET"])
@endpoint
def list_consent() -> Response:
    return consent.list_consent(_request().query_params)


@route("/consent/export", methods=["GET"])
@endpoint
def export_consent() -> Response:
    return consent.export_csv()


@route("/consent/import", methods=["POST"], content_types=["text/csv"])
@endpoint
def import_consent() -> Response:
    return consent.import_csv(_body())


@route("/consent/{address}", methods=["PUT"])
@endpoint
def put_consent(address: str) -> Response:
    return consent.put_consent(address, _body())


@route("/consent/{address}", methods=["DELETE"])
@endpoint
def delete_consent(address: str) -> Response:
    return consent.delete_consent(address, _request().query_params)


@route("/contacts/{address}", methods=["DELETE"])
@endpoint
def erase_contact(address: str) -> Response:
    return consent.erase_contact(address)


@app.route("/webhooks/twilio/status", methods=["POST"], content_types=["application/x-www-form-urlencoded"])
@endpoint
def twilio_status() -> Response:
    request = _request()
    return webhooks.twilio_status(request.query_params, request.headers, _body(), _public_url())


@app.route("/webhooks/telesign/status", methods=["POST"], content_types=["application/json"])
@endpoint
def telesign_status() -> Response:
    return webhooks.telesign_status(_request().headers, _body(), _request().query_params)


@app.route("/webhooks/twilio/inbound", methods=["POST"], content_types=["application/x-www-form-urlencoded"])
@endpoint
def twilio_inbound() -> Response:
    request = _request()
    return webhooks.twilio_inbound(request.query_params, request.headers, _body(), _public_url())


@route("/entities/{entity_type}/{entity_id}/timeline", methods=["GET"])
@endpoint
def get_timeline(entity_type: str, entity_id: str) -> Response:
    return activity.get_timeline(entity_type, unquote(entity_id))


@route("/conversations", methods=["GET"])
@endpoint
def list_conversations() -> Response:
    return activity.list_conversations(_request().query_params)


@route("/conversations/{conversation_id}", methods=["DELETE"])
@endpoint
def delete_conversation(conversation_id: str) -> Response:
    return activity.delete_conversation(conversation_id)


@route("/conversations/{conversation_id}", methods=["GET"])
@endpoint
def get_conversation(conversation_id: str) -> Response:
    return activity.get_conversation(conversation_id)


@app.route("/reference-listener", methods=["POST"], content_types=["text/xml", "application/soap+xml"])
def reference_listener() -> Response:
    from chalicelib.soap import reference_listener as listener

    status, body = listener.receive(_body() or b"")
    return Response(body=body.decode("utf-8"), status_code=status, headers={"Content-Type": "text/xml; charset=utf-8"})


@route("/reference-listener/received", methods=["GET"])
@endpoint
def reference_listener_received() -> Response:
    from chalicelib.soap import reference_listener as listener

    return reply(200, {"notifications": listener.received()})
