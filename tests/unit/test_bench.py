"""What the benchmark's figures rest on: app.py stays light to import, and the render comparisons compare
like with like (no timings asserted here; `make bench` measures)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lxml import etree

from bench import render_cost

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("boto3", "botocore", "jinja2", "lxml", "pydantic", "chalicelib.api.catalog", "chalicelib.stores.messages")


def test_importing_app_loads_no_heavy_module() -> None:
    code = f"import sys, app; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_route_module_loads_on_first_use() -> None:
    code = (
        "import sys, app\n"
        "before = 'chalicelib.api.catalog' in sys.modules\n"
        "app.catalog.checked_schema\n"
        "print(before, 'chalicelib.api.catalog' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True"]


def _shape(document: bytes) -> list[tuple[str, str | None]]:
    return [(element.tag, (element.text or "").strip() or None) for element in etree.fromstring(document).iter()]


def test_raw_lxml_baseline_builds_the_same_document_as_ours() -> None:
    notes = render_cost._notifications()
    assert _shape(render_cost.raw_lxml(notes)) == _shape(render_cost.ours(notes))
