"""The tree tells the architecture: every import in chalicelib/ points down the layers (pure core and models
at the bottom, the API at the top), so a newcomer can read what depends on what from the folders."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "chalicelib"
# Bottom to top. A module may import its own layer and those below it (models: nothing of ours).
LAYERS = ["models", "core", "platform", "stores", "soap", "senders", "operations", "triggers", "api"]


def test_imports_point_down_the_layers() -> None:
    rank = {name: i for i, name in enumerate(LAYERS)}
    assert {p.name for p in ROOT.iterdir() if p.is_dir() and p.name != "__pycache__"} == set(LAYERS)
    assert sorted(p.name for p in ROOT.glob("*.py")) == ["__init__.py"]  # no module outside a layer
    upward = []
    for path in ROOT.rglob("*.py"):
        mine = path.relative_to(ROOT).parts[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("chalicelib."):
                theirs = (node.module or "").split(".")[1]
                if rank[theirs] > rank[mine] or (mine == "models" and theirs != "models"):
                    upward.append(f"{path.relative_to(ROOT)}:{node.lineno} {mine} -> {theirs}")
    assert not upward, upward
