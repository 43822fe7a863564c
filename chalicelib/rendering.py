"""Template rendering: sandboxed jinja2, strict undefined, each body compiled once per container."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment

from chalicelib.models.customer import MessageTemplate

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


class TemplateProblem(ValueError):
    def __init__(self, locale: str, line: int | None, reason: str) -> None:
        super().__init__(f"bodies.{locale}: line {line}: {reason}" if line else f"bodies.{locale}: {reason}")
        self.locale, self.line, self.reason = locale, line, reason


# Names jinja2 itself binds inside a template: a context item of that name could never be seen.
RESERVED = frozenset({"loop", "caller", "varargs", "kwargs"})


def check_body(locale: str, body: str) -> set[str]:
    """Compile a body at save time; returns the names it uses, raises TemplateProblem with the line.

    Besides syntax, it refuses what no contact can supply: names jinja2 reserves, and attribute or item access on
    a contact value (`{{ Customer.Name }}`), since CustomerName, CaseName and context items are plain values.
    """
    try:
        ast = _ENV.parse(body)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(locale, exc.lineno, exc.message or "syntax error") from exc
    names = set(meta.find_undeclared_variables(ast))
    for name in sorted(names & RESERVED):
        line = next((n.lineno for n in ast.find_all(nodes.Name) if n.name == name), None)
        raise TemplateProblem(locale, line, f"{name!r} is reserved by the template language and cannot be supplied")
    for access in (*ast.find_all(nodes.Getattr), *ast.find_all(nodes.Getitem)):
        target = getattr(access, "node", None)
        if isinstance(target, nodes.Name) and target.name in names:
            raise TemplateProblem(
                locale,
                access.lineno,
                f"{target.name!r} is a plain contact value: it has no attributes or items to look up",
            )
    return names


@lru_cache(maxsize=512)
def _compiled(body: str) -> Any:
    return _ENV.from_string(body)


def pick_body(template: MessageTemplate, locale: str | None) -> tuple[str, str]:
    """The contact's locale, else its language, else the template's default."""
    if locale:
        if locale in template.bodies:
            return locale, template.bodies[locale]
        language = locale.split("-")[0]
        for candidate, body in template.bodies.items():
            if candidate.split("-")[0] == language:
                return candidate, body
    return template.default_locale, template.bodies[template.default_locale]


def render(template: MessageTemplate, locale: str | None, values: dict[str, Any]) -> str:
    _, body = pick_body(template, locale)
    return str(_compiled(body).render(**values))
