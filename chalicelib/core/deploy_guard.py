"""`chalice deploy` would create a stack without infra/template.yaml: no partial-batch responses (a failed
message is deleted as if delivered), no bisect, no on-failure destinations, no tables or queues. It is refused
while app.py is loaded, before it touches AWS, with the command that does deploy this service."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePath

SUPPORTED = (
    "chalice deploy ignores infra/template.yaml (queues, tables, partial-batch responses, failure destinations), "
    "so it cannot deploy Outbound. Deploy with `chalice package --merge-template infra/template.yaml` and "
    "CloudFormation, as the README's 'Deploying' section shows."
)
_OPTIONS_WITH_VALUE = {"--project-dir"}


def refusal(argv: Sequence[str]) -> str | None:
    """The message to stop with when `argv` is a `chalice deploy` command line, else None."""
    if not argv:
        return None
    program = PurePath(argv[0])
    if program.name not in {"chalice", "chalice.exe"} and program.parts[-2:] != ("chalice", "__main__.py"):
        return None
    skip = False
    for arg in argv[1:]:
        if skip:
            skip = False
            continue
        if arg in _OPTIONS_WITH_VALUE:
            skip = True
            continue
        if arg.startswith("-"):
            continue
        return SUPPORTED if arg == "deploy" else None
    return None
