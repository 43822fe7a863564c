"""Modules imported on first use, so every Lambda (API, senders, stream) pays only for what it runs.

All functions share `app.py`; importing every route module there would put boto3, jinja2 and lxml into the
cold start of a sender that needs none of the routes.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attribute: str) -> Any:
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attribute)

    def __repr__(self) -> str:
        return f"<lazy {self._name}{' (loaded)' if self._module else ''}>"
