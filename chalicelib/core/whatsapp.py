"""WhatsApp's rules for business-initiated messages (pure): free text only inside the 24-hour customer-service
window that a customer's own message opens, an approved content template otherwise."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Literal

from chalicelib.core.rendering import best_locale
from chalicelib.models.customer import ContentTemplate, MessageTemplate

WINDOW = timedelta(hours=24)
# A send decided "inside" this close to the window's end could reach WhatsApp after it closed (63016).
MARGIN = timedelta(minutes=5)
Form = Literal["freeform", "template", "template_required"]
# Meta refuses a template parameter with a new line, a tab or more than four consecutive spaces (error 132018).
BAD_PARAMETER = re.compile(r"[\n\r\t]| {5,}")


def window_open(last_inbound: datetime | None, now: datetime) -> bool:
    return last_inbound is not None and now < last_inbound + WINDOW - MARGIN


def form(last_inbound: datetime | None, now: datetime, has_content: bool, force_template: bool = False) -> Form:
    """Which message WhatsApp would accept now."""
    if has_content and (force_template or not window_open(last_inbound, now)):
        return "template"
    if window_open(last_inbound, now):
        return "freeform"
    return "template_required"


def pick_content(template: MessageTemplate, locale: str | None) -> tuple[str, ContentTemplate] | None:
    """As bodies are picked: the contact's locale, else its language, else the default locale; None without."""
    chosen = best_locale(template.content, locale, template.default_locale)
    return (chosen, template.content[chosen]) if chosen else None


def parameters(given: dict[str, Any] | list[Any] | None) -> dict[str, str]:
    """A contact's `templateparameters` as Twilio's ContentVariables keys: a list fills "1".."n"."""
    if given is None:
        return {}
    items = given.items() if isinstance(given, dict) else ((str(i + 1), v) for i, v in enumerate(given))
    return {key: _text(value) for key, value in items}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parameter_problem(value: str) -> str | None:
    if not value.strip():
        return "is empty (WhatsApp refuses an empty template parameter)"
    if BAD_PARAMETER.search(value):
        return "holds a new line, a tab or more than four spaces in a row (WhatsApp refuses it)"
    return None
