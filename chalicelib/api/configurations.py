"""Outbound configurations: a channel, a sender and a template, with the fallback chain to try next."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalice.app import Response

from chalicelib.api.http import parse, reply, sorted_page, versioned_reply
from chalicelib.api.routing import Routes
from chalicelib.api.versioned import delete_unused, filters, replace, versioned
from chalicelib.core import ids
from chalicelib.core.errors import mismatch, unknown
from chalicelib.models.customer import ConfigurationInput, MessageTemplate, OutboundConfiguration
from chalicelib.models.definitions import Rule
from chalicelib.stores import config as config_store
from chalicelib.stores import schedules as schedule_store

routes = Routes(__name__)


def check_fallback(data: ConfigurationInput, own_id: str) -> None:
    """Each step names another existing configuration, once; a step's own fallback list is not followed (the
    chain is the one the first configuration names)."""
    seen: set[str] = set()
    for index, step in enumerate(data.fallback):
        field = f"fallback.{index}.configuration_id"
        if step.configuration_id == own_id or step.configuration_id in seen:
            raise mismatch(field, "a chain names each other configuration at most once, and never itself")
        seen.add(step.configuration_id)
        if config_store.get(config_store.CONFIGURATION, step.configuration_id, OutboundConfiguration) is None:
            raise unknown(field, f"{step.configuration_id} is not an outbound configuration")


def checked_configuration(data: ConfigurationInput, configuration_id: str) -> OutboundConfiguration:
    """Its template exists and is for its channel type; its fallback chain names existing configurations."""
    template = config_store.get(config_store.TEMPLATE, data.template_id, MessageTemplate)
    if template is None:
        raise unknown("template_id", f"{data.template_id} does not exist")
    if template.channel_type != data.channel_type:
        raise mismatch("template_id", f"template is for {template.channel_type}, configuration is {data.channel_type}")
    check_fallback(data, configuration_id)
    return OutboundConfiguration(id=configuration_id, **data.model_dump())


@routes.management("/outbound-configurations", methods=["POST"])
def create_configuration(raw: bytes | None) -> Response:
    configuration = checked_configuration(parse(ConfigurationInput, raw), ids.random_id("cfg"))
    config_store.put(config_store.CONFIGURATION, configuration.id, configuration, new=True)
    return reply(201, configuration)


@routes.management("/outbound-configurations", methods=["GET"])
def list_configurations(query: Mapping[str, str] | None) -> Response:
    """Filters: channel_type, channel, template_id, name (exact)."""
    wanted = filters(query, {"channel_type", "channel", "template_id", "name"})
    found = [c for c in config_store.list_all(config_store.CONFIGURATION, OutboundConfiguration)
             if all(str(getattr(c, k)) == v for k, v in wanted.items()
                    if k in {"channel_type", "channel", "template_id", "name"})]
    return sorted_page(found, wanted, lambda c: f"{c.name}\x00{c.id}", "configurations")


@routes.management("/outbound-configurations/{configuration_id}", methods=["GET"])
def get_configuration(configuration_id: str) -> Response:
    configuration, version = versioned(config_store.CONFIGURATION, configuration_id, OutboundConfiguration,
                                       "outbound configuration")
    return versioned_reply(200, configuration, version)


@routes.management("/outbound-configurations/{configuration_id}", methods=["PUT"])
def update_configuration(configuration_id: str, raw: bytes | None, if_match: str | None) -> Response:
    return replace(config_store.CONFIGURATION, configuration_id, OutboundConfiguration, "outbound configuration",
                   raw, if_match, ConfigurationInput, "channel_type", "this configuration is", checked_configuration)


def _referrers(configuration_id: str) -> list[str]:
    rules = [f"rule {r.name} ({r.id})" for r in config_store.list_all(config_store.RULE, Rule)
             if configuration_id in r.configuration_ids]
    schedules: list[Any] = []
    for state in ("active", "paused"):
        found, _ = schedule_store.page(100, None, configuration_id=configuration_id, state=state)
        schedules += found
    fallbacks = [f"configuration {c.name} ({c.id}) falls back to it"
                 for c in config_store.list_all(config_store.CONFIGURATION, OutboundConfiguration)
                 if any(step.configuration_id == configuration_id for step in c.fallback)]
    return rules + [f"schedule {s.id} ({s.state})" for s in schedules] + fallbacks


@routes.management("/outbound-configurations/{configuration_id}", methods=["DELETE"])
def delete_configuration(configuration_id: str, if_match: str | None) -> Response:
    return delete_unused(config_store.CONFIGURATION, configuration_id, OutboundConfiguration,
                         "outbound configuration", if_match, lambda: _referrers(configuration_id),
                         "references", "the configuration is used by")

