"""Workflow rule evaluation on a stream record's old and new images. Pure: dicts in, bool out."""

from __future__ import annotations

from typing import Any

from chalicelib.models.definitions import Comparison, EvaluationCriteria, Group, Operator, Rule
from chalicelib.models.records import RecordChange

_MISSING = object()


def _ordered(left: Any, right: Any) -> bool:
    """Order comparisons only between values of one kind; bools are not numbers here."""
    if isinstance(left, bool) or isinstance(right, bool):
        return False
    numbers = (int, float)
    return (isinstance(left, numbers) and isinstance(right, numbers)) or (
        isinstance(left, str) and isinstance(right, str)
    )


def compare(condition: Comparison, new: dict[str, Any], old: dict[str, Any] | None) -> bool:
    value = new.get(condition.field)
    target: Any = condition.value
    match condition.op:
        case Operator.equals:
            return bool(value == target)
        case Operator.not_equals:
            return bool(value != target)
        case Operator.greater_than:
            return _ordered(value, target) and value > target
        case Operator.less_than:
            return _ordered(value, target) and value < target
        case Operator.greater_or_equal:
            return _ordered(value, target) and value >= target
        case Operator.less_or_equal:
            return _ordered(value, target) and value <= target
        case Operator.contains:
            return isinstance(value, str) and isinstance(target, str) and target in value
        case Operator.is_null:
            want_null = target is None or target is True
            return (value is None) == want_null
        case Operator.is_changed:
            # Like Salesforce's ISCHANGED: never true on create.
            if old is None:
                return False
            return bool(old.get(condition.field, _MISSING) != new.get(condition.field, _MISSING))
    raise AssertionError(f"unhandled operator {condition.op}")


def evaluate(group: Group | None, new: dict[str, Any], old: dict[str, Any] | None) -> bool:
    if group is None:
        return True
    results = (compare(c, new, old) if isinstance(c, Comparison) else evaluate(c, new, old) for c in group.conditions)
    return all(results) if group.logic == "and" else any(results)


def fires(rule: Rule, change: RecordChange) -> bool:
    """Whether the rule fires for this change, per its evaluation criteria."""
    if not rule.active or change.kind == "REMOVE" or change.new is None or rule.object != change.object_type:
        return False
    created = change.kind == "INSERT"
    meets_now = evaluate(rule.criteria, change.new, change.old)
    match rule.evaluation:
        case EvaluationCriteria.created:
            return created and meets_now
        case EvaluationCriteria.created_and_every_edit:
            return meets_now
        case EvaluationCriteria.created_and_edited_to_meet_criteria:
            if created or not meets_now:
                return meets_now
            return not evaluate(rule.criteria, change.old or {}, None)
    raise AssertionError(f"unhandled evaluation {rule.evaluation}")
