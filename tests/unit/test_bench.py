"""What the benchmark's figures rest on: app.py stays light to import, and the render comparisons compare
like with like (no timings asserted here; `make bench` measures)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from bench import render_cost

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("boto3", "botocore", "jinja2", "lxml", "pydantic", "chalicelib.api.templates", "chalicelib.stores.messages")


def _imported(handler: str | None) -> tuple[list[str], int]:
    """`import app` as the Lambda function whose entry point is `handler` runs it (None: as `chalice package`
    and the local runtime do): the heavy modules it loaded and the routes it registered."""
    env = {k: v for k, v in os.environ.items() if k != "_HANDLER"} | ({"_HANDLER": handler} if handler else {})
    code = (f"import json, sys, app\nprint(json.dumps([sorted(m for m in {HEAVY!r} if m in sys.modules), "
            f"sum(map(len, app.app.routes.values()))]))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, env=env)
    heavy, routes = json.loads(done.stdout)
    return heavy, routes


@pytest.mark.parametrize("handler", ["app.send_sms", "app.on_record_change", "app.on_minute", "app.webhooks_url"])
def test_a_function_that_serves_no_route_loads_no_heavy_module_with_app(handler: str) -> None:
    assert _imported(handler) == ([], 0)


def test_the_authorizer_function_loads_its_own_module_only() -> None:
    """Its handler is chalicelib/api/authorizer.py's bearer_key: app.py is not imported at all."""
    code = (f"import sys, chalicelib.api.authorizer\n"
            f"print(sorted(m for m in {HEAVY + ('app',)!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("handler", ["app.app", None])
def test_the_api_function_and_packaging_see_every_route(handler: str | None) -> None:
    heavy, routes = _imported(handler)
    assert "chalicelib.api.templates" in heavy and routes >= 70


def _shape(document: bytes) -> list[tuple[str, str | None]]:
    return [(element.tag, (element.text or "").strip() or None) for element in etree.fromstring(document).iter()]


def test_raw_lxml_baseline_builds_the_same_document_as_ours() -> None:
    notes = render_cost._notifications()
    assert _shape(render_cost.raw_lxml(notes)) == _shape(render_cost.ours(notes))


def test_storage_counts_the_item_and_each_index_entry_with_dynamodbs_overhead() -> None:
    """DynamoDB bills every item and every index entry at its bytes plus 100; a sparse index's absent entry
    costs nothing, a KEYS_ONLY entry holds the index's and the table's keys only."""
    from bench import pricing
    from chalicelib.platform.dynamo_codec import item_bytes, to_item

    store = pricing.tables()["message-store"]
    item = to_item({"message_id": "msg_1", "time_pk": "2026-12-05#01", "time_sk": "2026-12-05T10:00:00Z#msg_1",
                    "contact_key": "sms#+14155550100", "channel": "sms", "history": ["x" * 500]})
    time_entry = to_item({"message_id": "msg_1", "time_pk": "2026-12-05#01", "time_sk": "2026-12-05T10:00:00Z#msg_1",
                          "contact_key": "sms#+14155550100", "channel": "sms"})
    contact_entry = to_item({"message_id": "msg_1", "contact_key": "sms#+14155550100",
                             "time_sk": "2026-12-05T10:00:00Z#msg_1"})
    assert pricing.stored_bytes(store, item) == (item_bytes(item) + item_bytes(time_entry)
                                                 + item_bytes(contact_entry) + 3 * pricing.ITEM_OVERHEAD)


def test_provisioned_capacity_prices_a_unit_per_second_at_the_scaling_target() -> None:
    from collections import Counter

    from bench import cost, pricing

    units = pricing.Ledger(Counter({"message-store": 3_600_000, "config": 1_000_000}),
                           {"message-store": 1_000_000.0})
    run = cost.Run("SMS", 1_000_000, units, Counter(), 0, 0, 0, 0)
    saved_per_million = run.total() - run.provisioned_total()
    on_demand = 3.6 * 0.625 + 1.0 * 0.125  # the config table stays on demand
    provisioned = (3.6 * 0.00065 + 1.0 * 0.00013) * 1e6 / 3600 / 0.7
    assert abs(saved_per_million - (on_demand - provisioned)) < 1e-9
