"""The stack's CloudWatch dashboard names only what exists: every Outbound metric it draws is one the code
emits (platform/metrics.METRICS, itself checked against the code), every alarm it shows is an alarm of the
stack, and every alarm of the stack is on it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from chalicelib.platform.metrics import METRICS
from tests.cfn import Stack

ROOT = Path(__file__).resolve().parents[2]


def _template() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "infra" / "template.yaml").read_text()))


def emitted_in_code() -> set[str]:
    """Metric names the code emits: keys of the dicts passed to `emit(...)`, `Metric("...")` effects of the
    lifecycle (both arms of a conditional name), and `reached(name)` callers' names (Sent, Delivered)."""
    found: set[str] = set()
    for path in (ROOT / "chalicelib").rglob("*.py"):
        text = path.read_text()
        for call in re.finditer(r"emit\(\s*\{(.*?)\}", text, re.S):
            found |= set(re.findall(r'"([A-Z][A-Za-z]+)":', call.group(1)))
        for effect in re.finditer(r'Metric\(\s*("[A-Z][A-Za-z]+"(?:\s+if\s+[^"]+else\s+"[A-Z][A-Za-z]+")?)', text):
            found |= set(re.findall(r'"([A-Z][A-Za-z]+)"', effect.group(1)))
    found |= {"DeliveryLatency"}  # reached() emits it beside Sent / Delivered (platform/metrics.reached)
    return found


def test_the_metric_list_is_what_the_code_emits() -> None:
    assert emitted_in_code() == set(METRICS)


def dashboard(template: dict[str, Any]) -> dict[str, Any]:
    body = Stack(template).properties("Dashboard")["DashboardBody"]
    return dict(json.loads(body))


def test_the_dashboard_draws_emitted_metrics_and_every_alarm() -> None:
    template = _template()
    board = dashboard(template)
    named: set[str] = set()
    alarms: list[str] = []
    for widget in board["widgets"]:
        properties = widget["properties"]
        alarms += properties.get("alarms", [])
        for metric in properties.get("metrics", []):
            expression = metric[0].get("expression") if isinstance(metric[0], dict) else None
            if expression and "{Outbound," in expression:
                named |= set(re.findall(r'MetricName="([A-Za-z]+)"', expression))
            elif isinstance(metric[0], str) and metric[0] == "Outbound":
                named.add(metric[1])
    assert named and named <= METRICS, named - METRICS
    assert named >= {"Sent", "Delivered", "Failed", "Expired", "DeliveryLatency"}
    declared = {name for name, spec in template["Resources"].items() if spec.get("Type") == "AWS::CloudWatch::Alarm"}
    shown = {re.fullmatch(r"<(\w+)\.Arn>", alarm).group(1) for alarm in alarms}  # type: ignore[union-attr]
    assert shown == declared, (declared - shown, shown - declared)


def test_the_dashboards_queues_and_functions_are_the_stacks() -> None:
    template = _template()
    resources = template["Resources"]
    board = json.dumps(dashboard(template))
    for reference in re.findall(r"<(\w+)\.QueueName>", board):
        assert resources[reference]["Type"] == "AWS::SQS::Queue", reference
    queues = {n for n, s in resources.items() if s.get("Type") == "AWS::SQS::Queue"}
    assert queues <= set(re.findall(r"<(\w+)\.QueueName>", board)), "every queue's depth is drawn"
    assert "IteratorAge" in board and "outbound-dev" in board
    url = Stack(template).value(template["Outputs"]["DashboardUrl"]["Value"])
    assert url.endswith("#dashboards:name=outbound-dev") and "us-east-1" in url
