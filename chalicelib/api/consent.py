"""The consent list for operators: look up, add, remove, export and import entries, and erase a person."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from urllib.parse import unquote

from chalice.app import Response

from chalicelib.api.http import known_parameters, page_limit, parse, reply, validate
from chalicelib.api.routing import Routes
from chalicelib.core import clock, consent, phone_numbers
from chalicelib.core.errors import ApiError, invalid
from chalicelib.models.consent import ConsentInput, ConsentItem
from chalicelib.operations import consent as consent_writer
from chalicelib.platform.settings import get_settings
from chalicelib.stores import consent as consent_store

routes = Routes(__name__)


X_ADDRESS = r"^(@[A-Za-z0-9_]{1,15}|[0-9]{1,19})$"
MAX_IMPORT_BYTES = 1_000_000
MAX_IMPORT_ROWS = 10_000
IMPORT_COLUMNS = ("address", "scope", "applies_to", "status", "note")


def normalized(raw: str, field: str = "address") -> str:
    """A phone number (to E.164, in the stage's default region) or an X @handle / user id; a 400 naming
    `field` otherwise."""
    import re

    text = unquote(raw).strip()
    if re.match(X_ADDRESS, text):
        return consent.address_of(text)
    try:
        return phone_numbers.to_e164(text, get_settings().default_phone_region)
    except phone_numbers.InvalidNumber as exc:
        raise invalid(field, f"{exc}; or an X @handle or numeric user id") from exc


def _shown(item: ConsentItem, raw: str | None = None) -> dict[str, object]:
    entries = sorted(item.entries.values(), key=lambda e: (e.scope, e.applies_to))
    return {"address": item.address or raw, "erased": item.address is None,
            "opted_out": any(e.status == "opted_out" for e in entries),
            "entries": [e.model_dump(mode="json") for e in entries],
            "history": [e.model_dump(mode="json") for e in item.history]}


@routes.management("/consent", methods=["GET"])
def list_consent(query: Mapping[str, str] | None) -> Response:
    params = known_parameters(query, {"address", "limit", "next"})
    if "address" in params:
        found = consent_store.get(normalized(params["address"]))
        if found is None:
            raise ApiError(404, "not_found", "no consent entry for that address")
        return reply(200, {"items": [_shown(found)], "next": None})
    items, after = consent_store.page(page_limit(params.get("limit")), params.get("next") or None)
    return reply(200, {"items": [_shown(i) for i in items], "next": after})


@routes.management("/consent/{address}", methods=["PUT"])
def put_consent(address: str, raw: bytes | None) -> Response:
    request = parse(ConsentInput, raw)
    item = consent_writer.by_operator(normalized(address), request, clock.now())
    return reply(200, _shown(item))


@routes.management("/consent/{address}", methods=["DELETE"])
def delete_consent(address: str, query: Mapping[str, str] | None) -> Response:
    params = known_parameters(query, {"scope", "applies_to", "note"})
    request = validate(ConsentInput, {k: v for k, v in params.items() if k != "note"} | {"note": params.get("note")})
    item = consent_writer.remove(normalized(address), request.scope, request.applies_to, clock.now(),
                                 request.note)
    if item is None:
        raise ApiError(404, "not_found", "no consent entry for that address")
    return reply(200, _shown(item))


@routes.management("/consent/export", methods=["GET"], name="export_consent")
def export_csv() -> Response:
    items: list[ConsentItem] = []
    after: str | None = None
    while True:
        page, after = consent_store.page(100, after)
        items.extend(page)
        if after is None:
            break
    text = consent_writer.to_csv(consent_writer.export_rows(items))
    return Response(body=text, status_code=200, headers={"Content-Type": "text/csv; charset=utf-8",
                                                         "Content-Disposition": 'attachment; filename="consent.csv"'})


@routes.management("/consent/import", methods=["POST"], content_types=["text/csv"], name="import_consent")
def import_csv(raw: bytes | None) -> Response:
    """Rows of address, scope, applies_to, status, note (a header row first); every row is checked before
    any is written, so a bad row refuses the import and names itself."""
    body = raw or b""
    if len(body) > MAX_IMPORT_BYTES:
        raise ApiError(413, "payload_too_large", f"body: {len(body)} bytes, more than {MAX_IMPORT_BYTES}",
                       [{"field": "body", "message": f"at most {MAX_IMPORT_BYTES} bytes"}])
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise invalid("body", "must be UTF-8 CSV") from exc
    reader = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(reader, [])]
    if not header or header[0] != "address" or any(h not in IMPORT_COLUMNS for h in header):
        raise invalid("header", "the first row names the columns: address, then any of "
                      + ", ".join(IMPORT_COLUMNS[1:]))
    rows: list[tuple[str, ConsentInput]] = []
    for number, row in enumerate(reader, start=1):
        if not any(cell.strip() for cell in row):
            continue
        if len(rows) >= MAX_IMPORT_ROWS:
            raise invalid("rows", f"at most {MAX_IMPORT_ROWS} rows")
        if len(row) > len(header):
            raise invalid(f"rows.{number}", f"{len(row)} cells for {len(header)} columns")
        cells = {name: value.strip() for name, value in zip(header, row, strict=False) if value.strip()}
        who = normalized(cells.pop("address", ""), f"rows.{number}.address")
        try:
            request = validate(ConsentInput, cells)
        except ApiError as exc:
            raise ApiError(400, "validation_error", f"rows.{number}: {exc.message}",
                           [{"field": f"rows.{number}.{d['field']}", "message": d["message"]}
                            for d in exc.fields]) from exc
        rows.append((who, request))
    now = clock.now()
    for who, request in rows:
        consent_writer.by_operator(who, request, now, actor="import")
    return reply(200, {"imported": len(rows)})


@routes.management("/contacts/{address}", methods=["DELETE"])
def erase_contact(address: str) -> Response:
    from chalicelib.operations import erasure

    return reply(200, {"address": "erased", "erased": erasure.erase_contact(normalized(address))})
