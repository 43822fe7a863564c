"""Starts ministack (run with the ministack venv's Python) after correcting its errors and standing in for End
User Messaging.

1. ministack's IAM check asks for `sqs:SendMessageBatch`, `sqs:DeleteMessageBatch` and
`sqs:ChangeMessageVisibilityBatch`. AWS has no such IAM actions: the batch calls are authorised by
`sqs:SendMessage`, `sqs:DeleteMessage` and `sqs:ChangeMessageVisibility`
(https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-api-permissions-reference.html),
which is what our policy grants.
2. ministack's CloudFormation copies an event-source mapping's `ScalingConfig` as given, so a `Ref` to a Number
parameter arrives as the string "20" and its SQS poller then fails on every poll comparing it with an int.
CloudFormation passes parameter values as strings and converts them to the property's type, Integer for
`ScalingConfig.MaximumConcurrency`
(https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-lambda-eventsourcemapping-scalingconfig.html).
3. ministack's Scheduler delivers a schedule's `Input` as written, with its context attributes
(`<aws.scheduler.scheduled-time>`, `<aws.scheduler.schedule-arn>`, `<aws.scheduler.execution-id>`,
`<aws.scheduler.attempt-number>`) left in place. Scheduler replaces them before it invokes the target
(https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-context-attributes.html); our
scheduled-send function derives its message ids from the scheduled time they carry.
4. ministack's IAM check names every schedule `schedule/default/<name>`, whatever group the request gives. AWS
authorises the schedule as `arn:aws:scheduler:<region>:<account>:schedule/<group>/<name>`
(https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoneventbridgescheduler.html), which
is what our policy scopes to the stage's group.
5. ministack's Scheduler reads `at(...)` as UTC whatever the schedule's `ScheduleExpressionTimezone`. Scheduler
evaluates a one-time schedule's date and time in its time zone
(https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html#one-time).
6. ministack has no End User Messaging SMS. The rehearsal's loopback server plays that service and, as the
service does, puts its "Text Message Delivery Status Updated" events (source `aws.sms-voice`) on the account's
default bus (https://docs.aws.amazon.com/sms-voice/latest/userguide/monitor-event-bridge.html). PutEvents refuses
`aws.*` sources to clients, as AWS does, so events of exactly that source are let through here, as ministack's
own built-in emitters are.
7. ministack's EventBridge (rules and Scheduler) runs a Lambda target once, in a thread, and forgets a failure.
EventBridge and Scheduler invoke Lambda asynchronously: Lambda retries a failing event (MaximumRetryAttempts,
2 by default) and then hands it to the function's on-failure destination, or drops it
(https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html). ministack's own asynchronous path
(`invoke_async_with_retry`, used for S3 notifications) does exactly that; Lambda targets go through it here.
The product follows AWS; the emulator is corrected here.
"""

from __future__ import annotations

from typing import Any

from ministack.core import iam_actions

BATCH_ACTIONS = {
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}
_extract = iam_actions.extract_iam_action


def extract_iam_action(*args: Any, **kwargs: Any) -> Any:
    action = _extract(*args, **kwargs)
    return BATCH_ACTIONS.get(action, action)


iam_actions.extract_iam_action = extract_iam_action
_extract_resource = iam_actions.extract_resource_arn


def extract_resource_arn(service: str, method: str, path: str, headers: Any, body: bytes, query_params: Any,
                         region: str, account_id: str) -> Any:
    arn = _extract_resource(service, method, path, headers, body, query_params, region, account_id)
    if service == "scheduler" and isinstance(arn, str) and ":schedule/default/" in arn:
        import json

        try:
            group = json.loads(body or b"{}").get("GroupName") if body else None
        except ValueError:
            group = None
        values = (query_params or {}).get("groupName")
        group = group or (values[0] if isinstance(values, list) else values)
        if group:
            arn = arn.replace(":schedule/default/", f":schedule/{group}/")
    return arn


iam_actions.extract_resource_arn = extract_resource_arn

INTEGER_PROPERTIES = ("BatchSize", "MaximumBatchingWindowInSeconds", "MaximumRetryAttempts",
                      "MaximumRecordAgeInSeconds", "ParallelizationFactor")


def _typed(props: Any) -> dict[str, Any]:
    props = dict(props or {})
    for name in INTEGER_PROPERTIES:
        if isinstance(props.get(name), str):
            props[name] = int(props[name])
    scaling = props.get("ScalingConfig")
    if isinstance(scaling, dict) and isinstance(scaling.get("MaximumConcurrency"), str):
        props["ScalingConfig"] = {**scaling, "MaximumConcurrency": int(scaling["MaximumConcurrency"])}
    return props


def _patch_event_source_mappings() -> None:
    from ministack.services.cloudformation import provisioners

    create, update = provisioners._lambda_esm_create, provisioners._lambda_esm_update

    def esm_create(logical_id: Any, props: Any, stack_name: Any) -> Any:
        return create(logical_id, _typed(props), stack_name)

    def esm_update(physical_id: Any, old_props: Any, new_props: Any, stack_name: Any) -> Any:
        return update(physical_id, _typed(old_props), _typed(new_props), stack_name)

    provisioners._lambda_esm_create = esm_create
    provisioners._lambda_esm_update = esm_update
    for table_name in dir(provisioners):  # the resource-type table holds the functions themselves
        table = getattr(provisioners, table_name)
        handlers = table.get("AWS::Lambda::EventSourceMapping") if isinstance(table, dict) else None
        if isinstance(handlers, dict):
            handlers.update(create=esm_create, update=esm_update)


_patch_event_source_mappings()


def _patch_scheduler_context_attributes() -> None:
    import json
    import uuid
    from datetime import UTC, datetime

    from ministack.services import eventbridge, scheduler

    invoke = eventbridge._invoke_target

    def invoke_target(target: Any, event: Any, rule: Any, view: Any = None) -> Any:
        text = target.get("Input") if isinstance(target, dict) else None
        if isinstance(event, dict) and event.get("Source") == "aws.scheduler" and isinstance(text, str):
            at = scheduler._at_time_epoch(str(rule.get("ScheduleExpression", "")))
            moment = datetime.fromtimestamp(at if at is not None else float(event.get("Time") or 0), UTC)
            for name, value in {"scheduled-time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                "schedule-arn": str(rule.get("Arn", "")), "execution-id": str(uuid.uuid4()),
                                "attempt-number": "1"}.items():
                text = text.replace(f"<aws.scheduler.{name}>", json.dumps(value)[1:-1])
            target = {**target, "Input": text}
        return invoke(target, event, rule, view)

    eventbridge._invoke_target = invoke_target


_patch_scheduler_context_attributes()


def _patch_scheduler_at_time_zone() -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from ministack.services import scheduler

    at_epoch = scheduler._at_time_epoch

    def zoned_at_epoch(expression: str) -> Any:
        epoch = at_epoch(expression)
        if epoch is None:
            return None
        zones = {str(s.get("ScheduleExpressionTimezone") or "UTC") for s in list(scheduler._schedules._data.values())
                 if s.get("ScheduleExpression") == expression}
        if len(zones) != 1:
            return epoch
        wall = datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)
        return wall.replace(tzinfo=ZoneInfo(zones.pop())).timestamp()

    scheduler._at_time_epoch = zoned_at_epoch


_patch_scheduler_at_time_zone()



def _let_end_user_messaging_emit() -> None:
    from ministack.services import eventbridge

    put = eventbridge._put_events

    def put_events(data: Any, allow_aws_source: bool = False) -> Any:
        entries = data.get("Entries", []) if isinstance(data, dict) else []
        sms_voice = bool(entries) and all(e.get("Source") == "aws.sms-voice" for e in entries)
        return put(data, allow_aws_source=allow_aws_source or sms_voice)

    eventbridge._put_events = put_events


_let_end_user_messaging_emit()


def _invoke_lambda_targets_asynchronously() -> None:
    import json

    from ministack.services import eventbridge, lambda_svc

    dispatch = eventbridge._dispatch_to_lambda

    def dispatch_to_lambda(arn: Any, payload: Any) -> Any:
        func, config, _name = lambda_svc._get_func_record_for_ref(arn)
        if not func or not config:
            return dispatch(arn, payload)
        try:
            event = json.loads(payload)
        except (TypeError, ValueError):
            event = {"body": payload}
        lambda_svc.invoke_async_with_retry(lambda_svc._execution_record_for_config(func, config), event)
        return None

    eventbridge._dispatch_to_lambda = dispatch_to_lambda


_invoke_lambda_targets_asynchronously()

if __name__ == "__main__":
    from ministack.app import main

    main()
