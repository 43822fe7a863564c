"""schemathesis against the local service: generated requests, positive and negative, for every operation of
/openapi.json; no 5xx, every answer conforms to the document, and every check on, "schema-valid input is
accepted" included. The document states what the code enforces (patterns, enums, closed maps, conditionals);
the few rules a JSON Schema cannot state are listed in the operation's description, and only those operations
may answer a schema-valid request with 400.

Driven through hypothesis directly (schemathesis's pytest plugin does not load under pytest 9 yet)."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from chalicelib.api.openapi import SEMANTIC_RULES
from tests.conftest import Api

EXAMPLES = 6
# What a schema-valid request may get besides 2xx: 404 (it names something that does not exist), 409 (it does not
# fit what exists) and 429; schemathesis's own default list, without 5xx, which is never acceptable here.
ACCEPTED = {401, 403, 404, 409, 429}


def test_no_server_errors_and_answers_match_the_document(runtime: Any) -> None:
    status, document = Api(runtime.api_url).call("GET", "/openapi.json")
    assert status == 200
    document["servers"] = [{"url": runtime.api_url}]
    schema = schemathesis.openapi.from_dict(document)
    headers = {"Authorization": f"Bearer {runtime.api_key}"}
    problems: list[str] = []
    operations = 0
    for result, mode in ((r, m) for r in schema.get_all_operations() for m in GenerationMode):
        operation = result.ok()  # type: ignore[union-attr]  # an invalid operation raises here, as it should
        operations += mode == GenerationMode.POSITIVE
        try:
            exercise(operation, mode, runtime.api_url, headers, problems)
        except Unsatisfiable:
            assert mode == GenerationMode.NEGATIVE  # nothing to get wrong: an operation without any input
    assert operations == sum(len(methods) for methods in document["paths"].values())
    assert not problems, "\n".join(sorted(set(problems)))


def exercise(operation: Any, mode: GenerationMode, base_url: str, headers: dict[str, str],
             problems: list[str]) -> None:
    operation_id = operation.definition.raw.get("operationId", "")

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
              database=None)
    def run(case: Any) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        where = f"{mode} {case.method} {case.formatted_path}"
        if response.status_code >= 500:
            problems.append(f"{where}: {response.status_code} {response.text[:200]}")
            return
        if mode == GenerationMode.POSITIVE and response.status_code >= 300:
            documented = response.status_code == 400 and operation_id in SEMANTIC_RULES
            if response.status_code not in ACCEPTED and not documented:
                problems.append(f"{where}: schema-valid request refused, {response.status_code} {response.text[:300]}")
        try:
            # positive_data_acceptance is the check above, with the documented exceptions
            case.validate_response(response, excluded_checks=[positive_data_acceptance])
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collected, reported together
            problems.append(f"{where}: {str(exc)[:300]}")

    run()
