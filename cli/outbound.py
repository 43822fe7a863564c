"""outbound: list, show and retry messages, and redrive dead-letter queues, against a stage's API.

    outbound [--api URL] messages list [--state failed] [--channel sms] [--configuration-id ID]
                                       [--definition-id ID] [--contact NUMBER] [--provider-id SM...]
                                       [--since ISO] [--until ISO] [--all | --cursor CURSOR]
    outbound [--api URL] messages show MESSAGE_ID
    outbound [--api URL] messages retry MESSAGE_ID [MESSAGE_ID ...] [--resend]
    outbound [--api URL] messages retry --state failed [--channel sms] ...   (every match, with progress)
    outbound [--api URL] dlq redrive CHANNEL [--batch 100] [--resend]
    outbound [--api URL] consent list [--address NUMBER] | add NUMBER [--scope S] [--status opted_out|opted_in]
    outbound [--api URL] consent remove NUMBER [--scope S] | export > consent.csv | import consent.csv
    outbound [--api URL] contacts erase NUMBER
    outbound [--api URL] RESOURCE list [--channel-type sms | --object Case | --configuration-id ID] [--json]
    outbound [--api URL] RESOURCE show ID
    outbound [--api URL] RESOURCE update ID --file BODY.json [--version N]
    outbound [--api URL] RESOURCE delete ID [--version N]
      (RESOURCE: objects, definitions, rules, templates, configurations, schedules (update: PATCH);
       an object's ID is its name; records take OBJECT before ID; conversations: list --contact, show, delete)

The API is $OUTBOUND_API or http://127.0.0.1:8000 (`make run`); $OUTBOUND_API_KEY goes in Authorization: Bearer.
Standard library only, so it runs with any python3. Progress goes to stderr, results to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


class ApiFailure(Exception):
    pass


class Client:
    def __init__(self, base: str, api_key: str | None) -> None:
        if not base.startswith(("http://", "https://")):
            raise ApiFailure(f"--api must be an http(s) URL, not {base!r}")
        self.base, self.api_key = base.rstrip("/"), api_key

    def call(self, method: str, path: str, body: Any = None, extra: dict[str, str] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json", "Accept": "application/json", **(extra or {})}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                text = answer.read()
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", "replace")
            raise ApiFailure(f"{method} {path}: HTTP {error.code}: {detail}") from error
        except urllib.error.URLError as error:
            raise ApiFailure(f"{method} {path}: {error.reason}") from error
        return json.loads(text) if text else None

    def raw(self, method: str, path: str, body: bytes | None = None, content_type: str = "text/csv") -> bytes:
        """A call whose body or answer is not JSON (CSV import and export)."""
        headers = {"Content-Type": content_type} if body is not None else {}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.base + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=120) as answer:
                return bytes(answer.read())
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", "replace")
            raise ApiFailure(f"{method} {path}: HTTP {error.code}: {detail}") from error
        except urllib.error.URLError as error:
            raise ApiFailure(f"{method} {path}: {error.reason}") from error


def _query(args: argparse.Namespace) -> dict[str, str]:
    query = {"limit": "100"}
    if args.state:
        query["state"] = args.state
    for option, name in (
        ("channel", "channel"),
        ("configuration_id", "configuration_id"),
        ("definition_id", "definition_id"),
        ("since", "created_after"),
        ("until", "created_before"),
        ("contact", "contact"),
        ("record_id", "record_id"),
        ("provider_id", "provider_message_id"),
        ("cursor", "cursor"),
    ):
        value = getattr(args, option, None)
        if value:
            query[name] = value
    return query


def matching(client: Client, args: argparse.Namespace, every: bool) -> Iterator[dict[str, Any]]:
    """The messages of the first page, or of every page; a page left unread is said on stderr with its cursor."""
    query = _query(args)
    pages = 0
    while True:
        page = client.call("GET", "/messages?" + urllib.parse.urlencode(query))
        pages += 1
        yield from page["messages"]
        if not page.get("cursor"):
            return
        if not every:
            print(f"more messages match: --all reads every page, --cursor {page['cursor']} the next one",
                  file=sys.stderr)
            return
        query["cursor"] = page["cursor"]
        print(f"... page {pages}", file=sys.stderr, flush=True)


COLUMNS = ("message_id", "channel", "state", "attempts", "created_at", "error_code", "last_error")


def list_messages(client: Client, args: argparse.Namespace) -> int:
    """A table with a header (tab-separated), newest first; `--json` prints the records as they came."""
    applied = {k: v for k, v in _query(args).items() if k != "limit"}
    print("filters: " + (", ".join(f"{k}={v}" for k, v in applied.items()) or "none (every state)"), file=sys.stderr)
    found = list(matching(client, args, args.all))
    if args.json:
        print(json.dumps(found, indent=2))
    else:
        print("\t".join(COLUMNS))
        for m in found:
            print("\t".join(str(m.get(column) if m.get(column) is not None else "-") for column in COLUMNS))
    print(f"{len(found)} message(s)", file=sys.stderr)
    return 0


def retry(client: Client, args: argparse.Namespace) -> int:
    ids = list(args.message_ids) or [m["message_id"] for m in matching(client, args, True)]
    if not ids:
        print("nothing to retry", file=sys.stderr)
        return 0
    failed = 0
    for done, message_id in enumerate(ids, start=1):
        try:
            client.call("POST", f"/messages/{urllib.parse.quote(message_id)}/retry",
                        {"resend": True} if args.resend else None)
        except ApiFailure as exc:
            failed += 1
            print(f"{message_id}: {exc}", file=sys.stderr)
        if done % 10 == 0 or done == len(ids):
            print(
                f"retried {done - failed}/{len(ids)}" + (f" ({failed} refused)" if failed else ""),
                file=sys.stderr,
                flush=True,
            )
    return 1 if failed else 0


def redrive(client: Client, args: argparse.Namespace) -> int:
    totals = {"redriven": 0, "dropped": 0, "kept": 0, "accepted_not_resent": 0}
    while True:
        report = client.call("POST", f"/dlq/{urllib.parse.quote(args.channel)}/redrive",
                             {"limit": args.batch, **({"resend": True} if args.resend else {})})
        for key in totals:
            totals[key] += len(report[key])
        print(
            f"redriven {totals['redriven']}, dropped {totals['dropped']}, kept {totals['kept']}"
            + (f", accepted by the provider and left parked {totals['accepted_not_resent']} (--resend sends them)"
               if totals["accepted_not_resent"] else ""),
            file=sys.stderr,
            flush=True,
        )
        if not report["more"]:
            break
    print(json.dumps(totals))
    return 0


@dataclass(frozen=True)
class Resource:
    """How the CLI reaches one kind of resource through the API."""

    path: str  # "{object}" is filled from the command's OBJECT argument (records)
    key: str  # the list's key in a listing's answer
    columns: tuple[str, ...]
    filters: tuple[str, ...] = ()
    update: str = "PUT"  # schedules change with PATCH
    commands: tuple[str, ...] = ("list", "show", "update", "delete")


RESOURCES = {
    "objects": Resource("/objects", "objects", ("name", "salesforce_ids")),
    "records": Resource("/records/{object}", "records", ("id", "fields")),
    "definitions": Resource("/outbound-messages", "outbound_messages", ("id", "name", "object", "endpoint_url"),
                            ("object",)),
    "rules": Resource("/rules", "rules", ("id", "name", "object", "evaluation", "active"), ("object",)),
    "templates": Resource("/templates", "templates", ("id", "name", "channel_type", "default_locale"),
                          ("channel_type",)),
    "configurations": Resource("/outbound-configurations", "configurations",
                               ("id", "name", "channel_type", "channel", "template_id"), ("channel_type",)),
    "schedules": Resource("/schedules", "schedules", ("id", "configuration_id", "expression", "timezone", "state",
                                                      "runs"), ("configuration_id", "state"), update="PATCH"),
    "conversations": Resource("/conversations", "conversations",
                              ("conversation_id", "channel", "last_message_id", "last_message_at"),
                              ("contact", "channel"), commands=("list", "show", "delete")),
    # partner endpoints' circuits: closed, open (paused, probed) or disabled, and why
    "endpoints": Resource("/endpoints", "endpoints", ("id", "state", "failures", "probe_at", "endpoint_url", "reason"),
                          commands=("list", "show", "resume")),
}


def _if_match(args: argparse.Namespace) -> dict[str, str]:
    """--version N writes only over version N (412 if it changed since)."""
    return {"If-Match": f'"{args.version}"'} if getattr(args, "version", None) is not None else {}


def _path(args: argparse.Namespace, with_id: bool = True) -> str:
    base = RESOURCES[args.group].path.replace("{object}", urllib.parse.quote(getattr(args, "object_type", "") or ""))
    return f"{base}/{urllib.parse.quote(args.id)}" if with_id else base


def list_resources(client: Client, args: argparse.Namespace) -> int:
    resource = RESOURCES[args.group]
    query = {name: getattr(args, name) for name in resource.filters if getattr(args, name, None)}
    print("filters: " + (", ".join(f"{k}={v}" for k, v in query.items()) or "none"), file=sys.stderr)
    found: list[dict[str, Any]] = []
    while True:
        page = client.call("GET", _path(args, False) + ("?" + urllib.parse.urlencode(query) if query else ""))
        found += page[resource.key]
        if not page.get("cursor"):
            break
        query["cursor"] = page["cursor"]
        print(f"... {len(found)} so far", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(found, indent=2))
    else:
        print("\t".join(resource.columns))
        for item in found:
            print("\t".join(json.dumps(v) if isinstance(v := item.get(column, "-"), dict) else str(v)
                            for column in resource.columns))
    print(f"{len(found)} {args.group}", file=sys.stderr)
    return 0


def show_resource(client: Client, args: argparse.Namespace) -> int:
    print(json.dumps(client.call("GET", _path(args)), indent=2))
    return 0


def update_resource(client: Client, args: argparse.Namespace) -> int:
    with open(args.file, encoding="utf-8") as source:
        body = json.load(source)
    answer = client.call(RESOURCES[args.group].update, _path(args), body, _if_match(args))
    print(json.dumps(answer, indent=2))
    version = answer.get("version") if isinstance(answer, dict) else None
    print(f"updated {args.id}" + (f": version {version}" if version else ""), file=sys.stderr)
    return 0


def resume_resource(client: Client, args: argparse.Namespace) -> int:
    answer = client.call("POST", _path(args) + "/resume")
    print(json.dumps(answer, indent=2))
    print(f"resumed {args.id}", file=sys.stderr)
    return 0


def delete_resource(client: Client, args: argparse.Namespace) -> int:
    client.call("DELETE", _path(args), None, _if_match(args))
    print(f"deleted {args.id}", file=sys.stderr)
    return 0


def _address(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def consent_list(client: Client, args: argparse.Namespace) -> int:
    if args.address:
        print(json.dumps(client.call("GET", f"/consent?address={_address(args.address)}"), indent=2))
        return 0
    count, after = 0, None
    print("address\topted_out\tentries")
    while True:
        page = client.call("GET", "/consent?limit=100" + (f"&next={_address(after)}" if after else ""))
        for item in page["items"]:
            scopes = ",".join(f"{e['scope']}:{e['applies_to']}:{e['status']}" for e in item["entries"])
            print(f"{item['address'] or '(erased)'}\t{item['opted_out']}\t{scopes}")
            count += 1
        after = page.get("next")
        if not after:
            break
        print(f"... {count} so far", file=sys.stderr, flush=True)
    print(f"{count} people on the consent list", file=sys.stderr)
    return 0


def consent_add(client: Client, args: argparse.Namespace) -> int:
    body = {"scope": args.scope, "applies_to": args.applies_to, "status": args.status,
            **({"note": args.note} if args.note else {})}
    print(json.dumps(client.call("PUT", f"/consent/{_address(args.address)}", body), indent=2))
    return 0


def consent_remove(client: Client, args: argparse.Namespace) -> int:
    query = urllib.parse.urlencode({"scope": args.scope, "applies_to": args.applies_to})
    print(json.dumps(client.call("DELETE", f"/consent/{_address(args.address)}?{query}"), indent=2))
    return 0


def consent_export(client: Client, args: argparse.Namespace) -> int:
    sys.stdout.write(client.raw("GET", "/consent/export").decode("utf-8"))
    return 0


def consent_import(client: Client, args: argparse.Namespace) -> int:
    with open(args.file, "rb") as source:
        answer = json.loads(client.raw("POST", "/consent/import", source.read()))
    print(f"imported {answer['imported']} entries", file=sys.stderr)
    return 0


def erase_contact(client: Client, args: argparse.Namespace) -> int:
    answer = client.call("DELETE", f"/contacts/{_address(args.address)}")
    print(json.dumps(answer, indent=2))
    return 0


def _consent_commands(groups: Any) -> None:
    consent = groups.add_parser("consent", help="the consent list (opt-outs across providers)").add_subparsers(
        dest="command", required=True)
    listing = consent.add_parser("list")
    listing.add_argument("--address", help="one person: a phone number, @handle or X user id")
    listing.set_defaults(run=consent_list)
    for name, run in (("add", consent_add), ("remove", consent_remove)):
        command = consent.add_parser(name)
        command.add_argument("address")
        command.add_argument("--scope", default="global", help="global (default) or a configuration's consent_scope")
        command.add_argument("--applies-to", dest="applies_to", default="all", choices=["all", "whatsapp_marketing"])
        if name == "add":
            command.add_argument("--status", default="opted_out", choices=["opted_out", "opted_in"])
            command.add_argument("--note", help="why (kept as the entry's evidence)")
        command.set_defaults(run=run)
    consent.add_parser("export", help="every entry as CSV, to stdout").set_defaults(run=consent_export)
    importing = consent.add_parser("import", help="a CSV: address,scope,applies_to,status,note")
    importing.add_argument("file")
    importing.set_defaults(run=consent_import)
    contacts = groups.add_parser("contacts").add_subparsers(dest="command", required=True)
    erase = contacts.add_parser("erase", help="erase a person from every store (the consent list keeps a hash)")
    erase.add_argument("address")
    erase.set_defaults(run=erase_contact)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="outbound", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    top.add_argument("--api", default=os.environ.get("OUTBOUND_API", "http://127.0.0.1:8000"))
    groups = top.add_subparsers(dest="group", required=True)
    messages = groups.add_parser("messages").add_subparsers(dest="command", required=True)

    def filters(p: argparse.ArgumentParser, state: str | None) -> None:
        p.add_argument("--state", default=state, help=f"one state (default: {state or 'every state'})")
        p.add_argument("--channel")
        p.add_argument("--configuration-id", dest="configuration_id")
        p.add_argument("--definition-id", dest="definition_id")
        p.add_argument("--since", help="created at or after (ISO 8601 with timezone)")
        p.add_argument("--until", help="created at or before")
        p.add_argument("--contact", help="a customer's messages: a phone number, @handle or X user id")
        p.add_argument("--record-id", dest="record_id", help="SOAP messages carrying this record")
        p.add_argument("--provider-id", dest="provider_id", help="the provider's id of a message (Twilio's SM...)")
        p.add_argument("--cursor", help="continue a listing where the previous page ended")

    listing = messages.add_parser("list")
    filters(listing, None)
    listing.add_argument("--all", action="store_true", help="follow every page")
    listing.add_argument("--json", action="store_true", help="the records as JSON, for scripts")
    listing.set_defaults(run=list_messages)
    show = messages.add_parser("show")
    show.add_argument("message_id")
    show.set_defaults(run=lambda c, a: print(json.dumps(c.call("GET", f"/messages/{a.message_id}"), indent=2)) or 0)
    retrying = messages.add_parser("retry")
    retrying.add_argument("message_ids", nargs="*")
    retrying.add_argument("--resend", action="store_true",
                          help="send again messages a provider accepted (the person may get them twice)")
    filters(retrying, "failed")
    retrying.set_defaults(run=retry)
    dlq = groups.add_parser("dlq").add_subparsers(dest="command", required=True)
    redriving = dlq.add_parser("redrive")
    redriving.add_argument("channel", choices=["soap", "sms", "whatsapp", "twitter"])
    redriving.add_argument("--batch", type=int, default=100, help="entries per API call (1-500)")
    redriving.add_argument("--resend", action="store_true",
                           help="also send again parked messages a provider had accepted (may reach people twice)")
    redriving.set_defaults(run=redrive)
    _consent_commands(groups)
    runs = {"list": list_resources, "show": show_resource, "update": update_resource, "delete": delete_resource,
            "resume": resume_resource}
    for group, resource in RESOURCES.items():
        commands = groups.add_parser(group).add_subparsers(dest="command", required=True)
        for name in resource.commands:
            command = commands.add_parser(name)
            if "{object}" in resource.path:
                command.add_argument("object_type", metavar="OBJECT")
            if name == "list":
                for option in resource.filters:
                    command.add_argument("--" + option.replace("_", "-"), dest=option)
                command.add_argument("--json", action="store_true", help="the items as JSON, for scripts")
            else:
                command.add_argument("id")
            if name in ("update", "delete") and group not in ("records", "conversations"):
                command.add_argument("--version", type=int, help="only if still at this version (else HTTP 412)")
            if name == "update":
                command.add_argument("--file", required=True,
                                     help=f"the body, as for {resource.update} (JSON; for PUT the whole resource)")
            command.set_defaults(run=runs[name])
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        client = Client(args.api, os.environ.get("OUTBOUND_API_KEY"))
        return int(args.run(client, args))
    except ApiFailure as exc:
        print(f"outbound: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
