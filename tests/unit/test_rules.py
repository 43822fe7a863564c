from __future__ import annotations

import pytest

from chalicelib.core.rules import compare, evaluate, fires
from chalicelib.models.definitions import Comparison, EvaluationCriteria, Group, Operator, Rule
from chalicelib.models.records import RecordChange


def change(kind: str, new: dict | None, old: dict | None = None, obj: str = "Case") -> RecordChange:
    return RecordChange(event_id="e1", sequence_number="1", kind=kind, object_type=obj, record_id="r1", old=old, new=new)


def rule(evaluation: EvaluationCriteria, criteria: Group | None = None) -> Rule:
    return Rule(id="r", object="Case", name="n", evaluation=evaluation, criteria=criteria, definition_ids=["d"])


ESCALATED = Group(conditions=[Comparison(field="Status", op=Operator.equals, value="Escalated")])


@pytest.mark.parametrize(
    ("op", "field_value", "target", "expected"),
    [
        (Operator.equals, "New", "New", True),
        (Operator.equals, "New", "Closed", False),
        (Operator.not_equals, "New", "Closed", True),
        (Operator.greater_than, 5, 3, True),
        (Operator.greater_than, 3, 3, False),
        (Operator.greater_than, "5", 3, False),  # no comparison across kinds
        (Operator.greater_than, True, 0, False),  # bools are not numbers
        (Operator.less_than, 1.5, 2, True),
        (Operator.greater_or_equal, 3, 3, True),
        (Operator.less_or_equal, 4, 3, False),
        (Operator.contains, "Printer on fire", "fire", True),
        (Operator.contains, None, "fire", False),
        (Operator.is_null, None, True, True),
        (Operator.is_null, "x", True, False),
        (Operator.is_null, "x", False, True),
    ],
)
def test_comparisons(op: Operator, field_value: object, target: object, expected: bool) -> None:
    assert compare(Comparison(field="F", op=op, value=target), {"F": field_value}, None) is expected


def test_is_changed_is_false_on_create_and_true_only_when_value_moves() -> None:
    condition = Comparison(field="Status", op=Operator.is_changed)
    assert compare(condition, {"Status": "New"}, None) is False
    assert compare(condition, {"Status": "New"}, {"Status": "New"}) is False
    assert compare(condition, {"Status": "Closed"}, {"Status": "New"}) is True
    assert compare(condition, {"Status": "Closed"}, {}) is True


def test_and_or_nesting() -> None:
    group = Group(logic="or", conditions=[
        Comparison(field="Priority", op=Operator.greater_than, value=3),
        Group(logic="and", conditions=[
            Comparison(field="Status", op=Operator.equals, value="New"),
            Comparison(field="Origin", op=Operator.equals, value="Web"),
        ]),
    ])
    assert evaluate(group, {"Priority": 5}, None)
    assert evaluate(group, {"Priority": 1, "Status": "New", "Origin": "Web"}, None)
    assert not evaluate(group, {"Priority": 1, "Status": "New", "Origin": "Phone"}, None)


def test_created_fires_only_on_insert() -> None:
    r = rule(EvaluationCriteria.created)
    assert fires(r, change("INSERT", {"Status": "New"}))
    assert not fires(r, change("MODIFY", {"Status": "New"}, {"Status": "Old"}))
    assert not fires(r, change("REMOVE", None, {"Status": "New"}))


def test_created_and_every_edit_fires_whenever_criteria_hold() -> None:
    r = rule(EvaluationCriteria.created_and_every_edit, ESCALATED)
    assert fires(r, change("INSERT", {"Status": "Escalated"}))
    assert fires(r, change("MODIFY", {"Status": "Escalated"}, {"Status": "Escalated"}))
    assert not fires(r, change("MODIFY", {"Status": "New"}, {"Status": "Escalated"}))


def test_edited_to_subsequently_meet_criteria_fires_only_on_false_to_true() -> None:
    r = rule(EvaluationCriteria.created_and_edited_to_meet_criteria, ESCALATED)
    assert fires(r, change("INSERT", {"Status": "Escalated"}))
    assert not fires(r, change("INSERT", {"Status": "New"}))
    assert fires(r, change("MODIFY", {"Status": "Escalated"}, {"Status": "New"}))
    assert not fires(r, change("MODIFY", {"Status": "Escalated", "X": 1}, {"Status": "Escalated"}))


def test_rule_ignores_other_objects_and_inactive_rules() -> None:
    r = rule(EvaluationCriteria.created)
    assert not fires(r, change("INSERT", {"Status": "New"}, obj="Account"))
    assert not fires(r.model_copy(update={"active": False}), change("INSERT", {"Status": "New"}))
