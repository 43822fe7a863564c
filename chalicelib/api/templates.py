"""Message templates: localized bodies (and WhatsApp content templates), checked when saved, previewed for one
contact."""

from __future__ import annotations

from collections.abc import Mapping

from chalice.app import Response

from chalicelib.api.http import parse, reply, sorted_page, versioned_reply
from chalicelib.api.routing import Routes
from chalicelib.api.versioned import delete_unused, filters, replace, versioned
from chalicelib.core import clock, ids, sms_segments, whatsapp
from chalicelib.core.errors import ApiError, invalid, require
from chalicelib.core.rendering import RenderFailed, TemplateProblem, check_body, pick_body, render
from chalicelib.models.customer import MAX_BODY, MessageTemplate, OutboundConfiguration, PreviewRequest, TemplateInput
from chalicelib.stores import config as config_store
from chalicelib.stores import contact_windows
from chalicelib.triggers.customer import contact_address, content_for

routes = Routes(__name__)


@routes.management("/templates", methods=["POST"])
def create_template(raw: bytes | None) -> Response:
    template = checked_template(parse(TemplateInput, raw), ids.random_id("tpl"))
    config_store.put(config_store.TEMPLATE, template.id, template, new=True)
    return reply(201, template)


def checked_template(data: TemplateInput, template_id: str) -> MessageTemplate:
    """Every body and content variable compiles (a 400 naming the locale otherwise), with the SMS warnings."""
    for locale, body in data.bodies.items():
        try:
            check_body(locale, body)
        except TemplateProblem as exc:
            raise invalid(f"bodies.{locale}", f"line {exc.line}: {exc.reason}") from exc
    if data.content and data.channel_type != "whatsapp":
        raise invalid("content", "content templates are for whatsapp templates only")
    for locale, content in data.content.items():
        for key, expression in content.variables.items():
            try:
                check_body(locale, expression)
            except TemplateProblem as exc:
                raise invalid(f"content.{locale}.variables.{key}", exc.reason) from exc
    warnings: dict[str, str] = {}
    if data.channel_type == "sms":
        warnings = {locale: w for locale, body in data.bodies.items() if (w := sms_segments.template_warning(body))}
    return MessageTemplate(id=template_id, warnings=warnings, **data.model_dump())


@routes.management("/templates/{template_id}/preview", methods=["POST"])
def preview_template(template_id: str, raw: bytes | None) -> Response:
    """Render for one contact exactly as a send would, without storing or sending anything."""
    template = require(
        config_store.get(config_store.TEMPLATE, template_id, MessageTemplate), "message template", template_id
    )
    request = parse(PreviewRequest, raw)
    locale = request.locale or request.contact.locale
    chosen, _ = pick_body(template, locale)
    try:
        text = render(template, locale, request.contact.template_values(), MAX_BODY[template.channel_type])
    except RenderFailed as exc:
        raise invalid("contact", f"template cannot be filled: {exc}") from exc
    answer: dict[str, object] = {"template_id": template_id, "locale": chosen, "body": text, "characters": len(text)}
    if template.channel_type == "sms":  # what the SMS costs: its encoding and segments
        answer |= sms_segments.analyze(text).as_dict()
    if template.channel_type == "whatsapp":
        answer |= _whatsapp_preview(template, request)
    return reply(200, answer)


def _whatsapp_preview(template: MessageTemplate, request: PreviewRequest) -> dict[str, object]:
    """Which form the contact would get: free text in the 24-hour window, the content template outside it.
    The window is known only for a sending number (`channel`); without one both cases are answered."""
    contact = request.contact.model_copy(update={"locale": request.locale or request.contact.locale})
    try:
        sid, variables = content_for(template, contact, 0)
        address = contact_address("whatsapp", contact.tocontactid, 0)
    except ApiError as exc:  # named as in a send; here the field is the preview's one contact
        raise invalid(exc.fields[0]["field"].replace("contacts.0", "contact", 1), exc.fields[0]["message"]) from exc
    forced = bool(contact.sendastemplate)
    answer: dict[str, object] = {
        "content_sid": sid,
        "content_variables": variables,
        "form_inside_window": whatsapp.form(clock.now(), clock.now(), sid is not None, forced),
        "form_outside_window": whatsapp.form(None, clock.now(), sid is not None, forced),
    }
    if request.channel:
        last = contact_windows.last_inbound("whatsapp", request.channel, address)
        answer |= {"window_open": whatsapp.window_open(last, clock.now()),
                   "last_inbound": last.isoformat() if last else None,
                   "form": whatsapp.form(last, clock.now(), sid is not None, forced)}
    return answer


@routes.management("/templates", methods=["GET"])
def list_templates(query: Mapping[str, str] | None) -> Response:
    """Filters: channel_type, name (exact)."""
    wanted = filters(query, {"channel_type", "name"})
    found = [t for t in config_store.list_all(config_store.TEMPLATE, MessageTemplate)
             if all(str(getattr(t, k)) == v for k, v in wanted.items() if k in {"channel_type", "name"})]
    return sorted_page(found, wanted, lambda t: f"{t.name}\x00{t.id}", "templates")


@routes.management("/templates/{template_id}", methods=["GET"])
def get_template(template_id: str) -> Response:
    template, version = versioned(config_store.TEMPLATE, template_id, MessageTemplate, "message template")
    return versioned_reply(200, template, version)


@routes.management("/templates/{template_id}", methods=["PUT"])
def update_template(template_id: str, raw: bytes | None, if_match: str | None) -> Response:
    """Full replacement; the channel type cannot change (configurations are bound to it)."""
    return replace(config_store.TEMPLATE, template_id, MessageTemplate, "message template", raw, if_match,
                   TemplateInput, "channel_type", "this template is", checked_template)


def configurations_using(template_id: str) -> list[OutboundConfiguration]:
    return [c for c in config_store.list_all(config_store.CONFIGURATION, OutboundConfiguration)
            if c.template_id == template_id]


@routes.management("/templates/{template_id}", methods=["DELETE"])
def delete_template(template_id: str, if_match: str | None) -> Response:
    return delete_unused(config_store.TEMPLATE, template_id, MessageTemplate, "message template", if_match,
                         lambda: [f"{c.name} ({c.id})" for c in configurations_using(template_id)],
                         "configurations", "the template is used by")

