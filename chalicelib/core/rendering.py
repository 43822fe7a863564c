"""Template rendering: sandboxed jinja2, strict undefined, each body compiled once per container, and bounded.

jinja2's sandbox stops attribute tricks, not work: `{{ 9**(9**8) }}` is folded by the compiler at save time
(one CPU busy for over a minute, holding the GIL), `{{ 'a' * 10**9 }}` allocates gigabytes, and nested loops
over `range(100000)` burn CPU after the client gave up. Here arithmetic and concatenation are intercepted (which
also stops the compiler from folding them), `range` is small, every step of every loop (over anything) draws on
one budget per render, the output is capped as it is produced, and a render that passes its time budget stops.
Anything that goes wrong while rendering is a RenderFailed carrying the reason: a 4xx at the API, a failed message
elsewhere.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment

from chalicelib.models.customer import MessageTemplate

MAX_RANGE = 1_000  # items one range() may yield
MAX_ITERATIONS = 10_000  # loop steps one render may take in all, over anything (nested loops multiply)
MAX_TEXT = 20_000  # characters any intermediate string or sequence may reach
MAX_POWER_BITS = 256  # size of the result of `**`
MAX_OUTPUT = 20_000  # characters one render may produce, before any channel's own limit
RENDER_SECONDS = 0.5  # time budget of one render
# Names jinja2 itself binds inside a template: a context item of that name could never be seen.
RESERVED = frozenset({"loop", "caller", "varargs", "kwargs"})
PER_RENDER_GLOBALS = frozenset({"range", "outbound_loop_steps_"})  # given to each render, not by the contact
# What an SMS, WhatsApp or X template has no use for, and what would fail or recurse at render time.
FORBIDDEN_NODES: dict[type[nodes.Node], str] = {
    nodes.Include: "include",
    nodes.Extends: "extends",
    nodes.Import: "import",
    nodes.FromImport: "from ... import",
    nodes.Macro: "macro",
    nodes.CallBlock: "call",
    nodes.Block: "block",
    nodes.Concat: "~ (use + to join texts)",
}


class RenderFailed(ValueError):
    """The template could not be rendered for these values; the message says why (no stack trace)."""


class LimitExceeded(RenderFailed):
    """A bound of this module was hit (work, size, time): the same whatever the contact's values."""


class TooLong(LimitExceeded):
    """The rendered text is longer than the channel takes (Twilio's 1,600 characters for SMS)."""


class TemplateProblem(ValueError):
    def __init__(self, locale: str, line: int | None, reason: str) -> None:
        super().__init__(f"bodies.{locale}: line {line}: {reason}" if line else f"bodies.{locale}: {reason}")
        self.locale, self.line, self.reason = locale, line, reason


class _Budget:
    """Per render: range items consumed, and when time is up. Lives in the render's globals."""

    def __init__(self) -> None:
        self.iterations = 0
        self.deadline = time.monotonic() + RENDER_SECONDS

    def tick(self, count: int = 1) -> None:
        self.iterations += count
        if self.iterations > MAX_ITERATIONS:
            raise LimitExceeded(f"loops run more than {MAX_ITERATIONS} times in all")
        if time.monotonic() > self.deadline:
            raise LimitExceeded(f"takes longer than {RENDER_SECONDS} s to render")


def _weight(value: Any, depth: int = 0) -> int:
    """Characters a value would print as, bounded cheaply: strings by length, sequences by their items."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list | tuple) and depth < 3:
        return len(value) + sum(_weight(item, depth + 1) for item in value[:MAX_TEXT])
    return 8


def _too_heavy(value: Any, what: str) -> Any:
    if _weight(value) > MAX_TEXT:
        raise LimitExceeded(f"{what} would exceed {MAX_TEXT} characters")
    return value


def _check_counts(args: tuple[Any, ...], kwargs: dict[str, Any], what: str) -> None:
    """Widths, counts and paddings: no argument may ask for more than MAX_TEXT of anything."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_TEXT:
            raise LimitExceeded(f"{what}: {value} is larger than {MAX_TEXT}")


_DIGITS = re.compile(r"\d+")


def _check_format(text: str) -> None:
    """A width or precision inside a format string ("%999999999s", "{:>999999999}") allocates that much."""
    if any(int(run) > MAX_TEXT for run in _DIGITS.findall(text) if len(run) <= 12) or any(
        len(run) > 12 for run in _DIGITS.findall(text)
    ):
        raise LimitExceeded(f"a format width is larger than {MAX_TEXT}")


def _check_replace(text: Any, old: Any, new: Any) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        hits = len(text) + 1 if old == "" else text.count(old)
        if len(text) + hits * (len(new) - len(old)) > MAX_TEXT:
            raise LimitExceeded(f"a replacement would exceed {MAX_TEXT} characters")


def _check_join(items: Any, separator: Any = "") -> None:
    if isinstance(items, list | tuple):
        total = sum(_weight(item) for item in items[:MAX_TEXT]) + len(str(separator)) * max(len(items) - 1, 0)
        if total > MAX_TEXT:
            raise LimitExceeded(f"a joined text would exceed {MAX_TEXT} characters")


class _BoundedEnvironment(SandboxedEnvironment):
    intercepted_binops = frozenset({"**", "*", "+", "//", "%"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(left, int | float) and isinstance(right, int | float):
                magnitude = abs(int(left)).bit_length() if isinstance(left, int) else 64
                if isinstance(right, int) and right > 0 and magnitude * right > MAX_POWER_BITS:
                    raise LimitExceeded("a power is too large")
        elif operator == "*":
            for sequence, times in ((left, right), (right, left)):
                repeats = isinstance(sequence, str | list | tuple) and isinstance(times, int)
                if repeats and _weight(sequence) * max(times, 0) > MAX_TEXT:
                    raise LimitExceeded(f"a repeated text or list would exceed {MAX_TEXT} characters")
            numbers = isinstance(left, int) and isinstance(right, int)
            if numbers and abs(left).bit_length() + abs(right).bit_length() > MAX_POWER_BITS:
                raise LimitExceeded("a product is too large")
        elif operator == "+":
            joins = isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple)
            if joins and _weight(left) + _weight(right) > MAX_TEXT:
                raise LimitExceeded(f"a joined text or list would exceed {MAX_TEXT} characters")
        elif operator == "%" and isinstance(left, str):
            _check_format(left)
            if "*" in left:  # a width or precision taken from the arguments: bounded before formatting
                _check_counts(right if isinstance(right, tuple) else (right,), {}, "a format width")
            return _too_heavy(super().call_binop(context, operator, left, right), "a formatted text")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - jinja2's names
        """Every function and method a template calls: no huge counts or widths in, nothing huge out."""
        name = getattr(__obj, "__name__", "a call")
        _check_counts(args, kwargs, name)
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            if name == "replace" and len(args) >= 2:
                _check_replace(owner, args[0], args[1])
            elif name == "join" and args:
                _check_join(list(args[0]) if isinstance(args[0], list | tuple) else args[0], owner)
        result = super().call(__context, __obj, *args, **kwargs)
        return _too_heavy(result, f"the result of {name}()")

    def wrap_str_format(self, value: Any) -> Any:
        """`"{:>999999999}".format(x)`: jinja2 swaps str.format for its own at attribute access; check first."""
        owner = getattr(value, "__self__", None)
        if isinstance(owner, str) and getattr(value, "__name__", "") in {"format", "format_map"}:
            _check_format(owner)
        return super().wrap_str_format(value)


def _bounded_filter(name: str, function: Any) -> Any:
    """The filter with its arguments and result bounded. Filters that take the environment or eval context
    first (jinja2's pass_* decorators) keep that marker, and the checks skip that argument."""
    skip = 1 if getattr(function, "jinja_pass_arg", None) is not None else 0

    def bounded(*passed: Any, **kwargs: Any) -> Any:
        args = passed[skip:]
        _check_counts(args[1:], kwargs, f"the {name} filter")
        if name == "replace" and len(args) >= 3:
            _check_replace(args[0], args[1], args[2])
        elif name == "join" and args:
            _check_join(args[0] if isinstance(args[0], list | tuple) else list(args[0]), args[1] if len(args) > 1
                        else kwargs.get("d", ""))
        elif name == "indent" and args and isinstance(args[0], str):
            width = args[1] if len(args) > 1 and isinstance(args[1], int) else 4
            if len(args[0]) + (args[0].count("\n") + 1) * width > MAX_TEXT:
                raise LimitExceeded(f"an indented text would exceed {MAX_TEXT} characters")
        return _too_heavy(function(*passed, **kwargs), f"the {name} filter's result")

    bounded.__name__ = name
    if skip:
        bounded.jinja_pass_arg = function.jinja_pass_arg  # type: ignore[attr-defined]
    return bounded


def _range(budget: _Budget) -> Any:
    def bounded_range(*args: int) -> range:
        span = range(*args)
        if len(span) > MAX_RANGE:
            raise LimitExceeded(f"range() may yield at most {MAX_RANGE} items")
        return span

    return bounded_range


def _steps(budget: _Budget) -> Any:
    """Wraps every `{% for %}`'s iterable (see _counted_loops): each step of every loop, whatever it loops over
    (a range, a string, a list, a filter's result), draws on the render's budget and checks its clock."""
    def counted(iterable: Any) -> Iterator[Any]:
        for item in iterable:
            budget.tick()
            yield item

    return counted


STEPS = "outbound_loop_steps_"  # the per-render global every loop's iterable passes through


def _counted_loops(ast: nodes.Template) -> nodes.Template:
    for loop in ast.find_all(nodes.For):
        loop.iter = nodes.Call(nodes.Name(STEPS, "load"), [loop.iter], [], None, None, lineno=loop.lineno)
    return ast


_ENV = _BoundedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
# Each render gets its own range(), drawing on its own budget; lipsum (generated text) has no place in a message.
for _global in ("range", "lipsum"):
    del _ENV.globals[_global]
# Filters that format, pretty-print or generate (format, pprint, filesizeformat, urlize, xmlattr, tojson, random)
# are left out; the rest have their arguments and results bounded like any call.
KEPT_FILTERS = (
    "abs", "batch", "capitalize", "center", "count", "d", "default", "e", "escape", "first", "float", "indent",
    "int", "join", "last", "length", "list", "lower", "map", "max", "min", "reject", "replace", "reverse",
    "round", "select", "slice", "sort", "string", "striptags", "sum", "title", "trim", "truncate", "unique",
    "upper", "wordcount", "wordwrap",
)
_ENV.filters = {name: _bounded_filter(name, _ENV.filters[name]) for name in KEPT_FILTERS}


def check_body(locale: str, body: str) -> set[str]:
    """Compile a body at save time; returns the names it uses, raises TemplateProblem with the line.

    Besides syntax, it refuses what no contact can supply: names jinja2 reserves, and attribute or item access on
    a contact value (`{{ Customer.Name }}`), since CustomerName, CaseName and context items are plain values; and
    what a message template has no use for (include, extends, import, macros, blocks).
    """
    try:
        ast = _ENV.parse(body)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(locale, exc.lineno, exc.message or "syntax error") from exc
    except RecursionError as exc:
        raise TemplateProblem(locale, None, "nested too deeply") from exc
    for node_type, keyword in FORBIDDEN_NODES.items():
        found = next(iter(ast.find_all(node_type)), None)
        if found is not None:
            raise TemplateProblem(locale, found.lineno, f"{keyword!r} is not available in message templates")
    try:
        names = set(meta.find_undeclared_variables(ast)) - PER_RENDER_GLOBALS
    except RecursionError as exc:
        raise TemplateProblem(locale, None, "nested too deeply") from exc
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
    try:
        _compiled(body)
    except (TemplateSyntaxError, RecursionError, MemoryError) as exc:
        raise TemplateProblem(locale, getattr(exc, "lineno", None), f"does not compile: {exc}") from exc
    # A trial render with every value empty: a bound hit then is hit for every contact ({{ 'a' * 10**9 }}).
    try:
        render_body(body, dict.fromkeys(names, ""))
    except LimitExceeded as exc:
        raise TemplateProblem(locale, None, f"cannot be rendered: {exc}") from exc
    except RenderFailed:
        pass  # depends on the values (a number in a context item, say): found when a contact is rendered
    return names


@lru_cache(maxsize=512)
def _compiled(body: str) -> Any:
    return _ENV.from_string(_counted_loops(_ENV.parse(body)))


def best_locale(available: Iterable[str], locale: str | None, default: str) -> str | None:
    """The contact's locale, else the first of its language, else the default; None if none is available."""
    choices = list(available)
    if locale:
        if locale in choices:
            return locale
        language = locale.split("-")[0]
        same_language = [c for c in choices if c.split("-")[0] == language]
        if same_language:
            return same_language[0]
    return default if default in choices else None


def pick_body(template: MessageTemplate, locale: str | None) -> tuple[str, str]:
    """The contact's locale, else its language, else the template's default."""
    chosen = best_locale(template.bodies, locale, template.default_locale) or template.default_locale
    return chosen, template.bodies[chosen]


def render_body(body: str, values: dict[str, Any], max_output: int = MAX_OUTPUT) -> str:
    """One bounded render: RenderFailed (with the reason) for anything that goes wrong or grows too much."""
    budget = _Budget()
    parts: list[str] = []
    produced = 0
    try:
        compiled = _compiled(body)
        for chunk in compiled.generate(**{**values, "range": _range(budget), STEPS: _steps(budget)}):
            produced += len(chunk)
            if produced > max_output:
                raise TooLong(f"renders to more than {max_output} characters")
            parts.append(chunk)
            budget.tick(0)
    except RenderFailed:
        raise
    except RecursionError as exc:
        raise LimitExceeded("recurses too deeply") from exc
    except MemoryError as exc:
        raise LimitExceeded("needs too much memory") from exc
    except Exception as exc:  # noqa: BLE001 - jinja2 errors, sandbox refusals, arithmetic on contact values
        text = str(exc).split("\n")[0][:300]
        raise RenderFailed(f"{type(exc).__name__}: {text}" if text else type(exc).__name__) from exc
    return "".join(parts)


def render(template: MessageTemplate, locale: str | None, values: dict[str, Any], max_output: int = MAX_OUTPUT) -> str:
    _, body = pick_body(template, locale)
    return render_body(body, values, max_output)
