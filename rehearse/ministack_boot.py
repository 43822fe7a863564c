"""Starts ministack (run with the ministack venv's Python) after correcting two emulator errors.

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

if __name__ == "__main__":
    from ministack.app import main

    main()
