"""The consent list's writers: a person's keyword through any provider's inbound webhook, a provider's error that
is the person's word, an operator (API, CLI, console, CSV import). Each change lands in the one list every
sender checks (senders/customer_checks.py); End User Messaging's opt-out list is kept in step when the stack
sends through it."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from chalicelib.core import consent
from chalicelib.models.consent import AppliesTo, ConsentEntry, ConsentEvidence, ConsentInput, ConsentItem
from chalicelib.models.customer import OutboundConfiguration
from chalicelib.platform.logs import log, mask_address
from chalicelib.stores import config as config_store
from chalicelib.stores import consent as consent_store
from chalicelib.stores import eum_opt_outs


def _configurations_at(ours: str) -> list[OutboundConfiguration]:
    number = consent.address_of(ours)
    return [c for c in config_store.list_all(config_store.CONFIGURATION, OutboundConfiguration)
            if consent.address_of(c.channel) == number]


@dataclass(frozen=True)
class InboundResult:
    kind: consent.Kind | None
    scopes: tuple[str, ...] = ()
    changed: bool = False
    # the configurations sending from the number the person wrote to (their answers' texts, read once)
    configurations: tuple[OutboundConfiguration, ...] = ()


def from_inbound(source: Literal["twilio", "telesign", "eum"], contact: str, ours: str, body: str,
                 provider_message_id: str, verified: bool, at: datetime) -> InboundResult:
    """A person's message to one of our numbers: STOP, START (or, where a configuration allows, a short text
    that revokes) changes their entries in the scope of every configuration sending from that number."""
    configurations = _configurations_at(ours)
    reasonable = any(c.revocation_phrases for c in configurations)
    kind = consent.keyword(body, reasonable)
    if kind not in ("opt_out", "opt_in"):
        return InboundResult(kind, configurations=tuple(configurations))
    scopes = tuple(sorted({c.consent_scope for c in configurations})) or (consent.GLOBAL,)
    status: Literal["opted_out", "opted_in"] = "opted_out" if kind == "opt_out" else "opted_in"
    evidence = ConsentEvidence(source=source, actor="person", at=at, keyword=" ".join(body.split())[:40],
                               provider_message_id=provider_message_id, verified=verified)

    def mutate(item: ConsentItem) -> ConsentItem:
        for scope in scopes:
            item = consent.record(item, scope, "all", status, evidence)
        return item

    _, changed = consent_store.change(contact, mutate)
    if changed:
        eum_opt_outs.sync(consent.address_of(contact), kind == "opt_out")
    log("consent.keyword", kind=kind, scopes=list(scopes), changed=changed, contact=mask_address(contact),
        provider_message_id=provider_message_id)
    return InboundResult(kind, scopes, changed, tuple(configurations))


def by_operator(address: str, request: ConsentInput, at: datetime, actor: str = "operator") -> ConsentItem:
    evidence = ConsentEvidence(source="import" if actor == "import" else "operator",
                               actor="import" if actor == "import" else "operator", at=at, note=request.note)
    item, changed = consent_store.change(address, lambda item: consent.record(
        item, request.scope, request.applies_to, request.status, evidence))
    if changed and request.applies_to == "all":
        eum_opt_outs.sync(consent.address_of(address), request.status == "opted_out")
    return item


def remove(address: str, scope: str, applies_to: AppliesTo, at: datetime, note: str | None) -> ConsentItem | None:
    if consent_store.get(address) is None:
        return None
    evidence = ConsentEvidence(source="operator", actor="operator", at=at, note=note)
    item, changed = consent_store.change(address, lambda item: consent.remove(item, scope, applies_to, evidence))
    if changed and applies_to == "all" and consent.blocking(item, scope, "sms", "transactional") is None:
        eum_opt_outs.sync(consent.address_of(address), False)
    return item


CSV_COLUMNS = ("address", "scope", "applies_to", "status", "source", "keyword", "code", "at", "entry_id")


def export_rows(items: list[ConsentItem]) -> Iterator[list[str]]:
    for item in items:
        for entry in sorted(item.entries.values(), key=lambda e: (e.scope, e.applies_to)):
            yield _row(item, entry)


def _row(item: ConsentItem, entry: ConsentEntry) -> list[str]:
    e = entry.evidence
    return [item.address or f"erased:{item.key[:12]}", entry.scope, entry.applies_to, entry.status, e.source,
            e.keyword or "", e.code or "", e.at.isoformat(), entry.id]


def to_csv(rows: Iterator[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([_safe_cell(cell) for cell in row])
    return out.getvalue()


def _safe_cell(cell: str) -> str:
    """A cell a spreadsheet would run as a formula is quoted (CSV injection)."""
    return "'" + cell if cell[:1] in ("=", "+", "-", "@") and not cell[1:2].isdigit() else cell
