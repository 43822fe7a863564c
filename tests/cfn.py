"""The packaged stack as the README's deploy builds it (`chalice package --merge-template infra/template.yaml`),
once per stage per test run, and a small evaluator of CloudFormation's intrinsic functions, so tests can read a
property as AWS will see it for given parameter values."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PSEUDO = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws",
          "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": "outbound-dev"}
NO_VALUE = object()  # AWS::NoValue: the property is left out


@lru_cache(maxsize=4)
def package(stage: str, out: str) -> Path:
    """`chalice package` for one stage into `out`; returns the SAM template's path."""
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    env.pop("RECORDS_STREAM_ARN", None)
    done = subprocess.run([str(BIN / "chalice"), "package", "--stage", stage, "--merge-template",
                           "infra/template.yaml", out], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return Path(out) / "sam.yaml"


def load(path: Path) -> dict[str, Any]:
    return dict(yaml.safe_load(path.read_text()))


class Stack:
    """A template with parameter values (the defaults unless given) and pseudo parameters."""

    def __init__(self, template: dict[str, Any], parameters: dict[str, str] | None = None,
                 pseudo: dict[str, str] | None = None) -> None:
        self.template = template
        declared = template.get("Parameters", {})
        self.values: dict[str, Any] = {name: spec.get("Default") for name, spec in declared.items()}
        self.values.update(parameters or {})
        for name, spec in declared.items():
            if spec.get("Type") == "CommaDelimitedList" and isinstance(self.values[name], str):
                self.values[name] = self.values[name].split(",") if self.values[name] else [""]
        self.values.update({**PSEUDO, **(pseudo or {})})

    @property
    def resources(self) -> dict[str, Any]:
        return dict(self.template["Resources"])

    def condition(self, name: str) -> bool:
        return bool(self.value(self.template["Conditions"][name]))

    def value(self, node: Any) -> Any:
        """`node` with every intrinsic function evaluated; a resource's Ref or GetAtt becomes `<Name.Attr>`."""
        if isinstance(node, list):
            return [v for v in (self.value(item) for item in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                if arg == "AWS::NoValue":
                    return NO_VALUE
                return self.values.get(arg, f"<{arg}>")
            if key == "Fn::GetAtt":
                name, attr = arg if isinstance(arg, list) else str(arg).split(".", 1)
                return f"<{name}.{attr}>"
            if key == "Fn::If":
                return self.value(arg[1] if self.condition(arg[0]) else arg[2])
            if key in {"Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or"}:
                return self._logic(key, arg)
            if key == "Fn::Split":
                return str(self.value(arg[1])).split(str(arg[0]))
            if key == "Fn::Select":
                return self.value(arg[1])[int(arg[0])]
            if key == "Fn::Join":
                return str(arg[0]).join(str(v) for v in self.value(arg[1]))
            if key == "Fn::Sub":
                text, local = (arg[0], self.value(arg[1])) if isinstance(arg, list) else (arg, {})
                return re.sub(r"\$\{([^}!]+)\}", lambda m: str(local.get(m[1], self.value(
                    {"Fn::GetAtt": m[1].split(".", 1)} if "." in m[1] else {"Ref": m[1]}))), text)
            if key == "Condition" and isinstance(arg, str) and arg in self.template.get("Conditions", {}):
                return self.condition(arg)
        return {k: v for k, v in ((k, self.value(v)) for k, v in node.items()) if v is not NO_VALUE}

    def _logic(self, key: str, arg: list[Any]) -> bool:
        if key == "Fn::Equals":
            return str(self.value(arg[0])) == str(self.value(arg[1]))
        if key == "Fn::Not":
            return not self.value(arg[0])
        if key == "Fn::And":
            return all(self.value(a) for a in arg)
        return any(self.value(a) for a in arg)

    def properties(self, name: str) -> dict[str, Any]:
        return dict(self.value(self.resources[name].get("Properties", {})))

    def of_type(self, kind: str) -> list[str]:
        """Logical ids of the resources of one type that this stack creates (their Condition holds)."""
        return [name for name, spec in self.resources.items() if spec.get("Type") == kind
                and ("Condition" not in spec or self.condition(spec["Condition"]))]
