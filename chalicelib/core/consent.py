"""One consent list across providers, the decisions: what an inbound text or a provider's error says about a
person's consent, and whether a send is blocked by what the list holds.

Keywords are the union of Twilio's defaults and End User Messaging's required ones, matched as the whole
message (case and surrounding whitespace ignored, as both providers match). A configuration may also honour
longer texts that revoke consent (the FCC's "any reasonable means", 47 CFR 64.1200(a)(10)): a short text that
leads with a revocation word ("stop texting me", "please unsubscribe me").

Entries are kept per (scope, applies_to): `global` or a configuration's consent scope (a brand, a sender
group), and `all` messages or `whatsapp_marketing` only (WhatsApp's own opt-out of marketing, error 131050).
A send is blocked by an `opted_out` entry of the global scope or of its own.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime
from typing import Literal

from chalicelib.models.consent import ConsentEntry, ConsentEvidence, ConsentItem

Kind = Literal["opt_out", "opt_in", "help"]
AppliesTo = Literal["all", "whatsapp_marketing"]
GLOBAL = "global"

OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "OPT-OUT",
                     "REMOVE", "ARRET", "TD"})
OPT_IN = frozenset({"START", "YES", "UNSTOP"})
HELP = frozenset({"HELP", "INFO"})
# Provider errors that are the person's word: Twilio 21610 (they replied STOP to that sender); WhatsApp 63014
# (Twilio: blocked by the user's action) and 131050 (Meta: the user stopped marketing messages).
CODES: dict[str, AppliesTo] = {"21610": "all", "63014": "whatsapp_marketing", "131050": "whatsapp_marketing"}
EUM_OPTED_OUT = "DESTINATION_PHONE_NUMBER_OPTED_OUT"  # End User Messaging's own list refused the number


def applies_to_code(code: str) -> AppliesTo | None:
    """What a provider's error code says the person opted out of; None when it is not about consent."""
    if code.endswith(":" + EUM_OPTED_OUT):
        return "all"
    return CODES.get(code)


# Revocation per se (47 CFR 64.1200(a)(10)): the words that revoke consent whatever surrounds them.
_REVOKING = r"(stop|quit|end|revoke|opt[ -]?out|cancel|unsubscribe)"
_REASONABLE = re.compile(rf"^(please |pls |i want to |i'd like to |)({_REVOKING})( .*)?$")
_NEGATED = re.compile(r"\b(don'?t|do not|never|not)\b")
MAX_REASONABLE_WORDS = 8
HISTORY_LIMIT = 100


def _normal(text: str) -> str:
    return " ".join(text.split())


def keyword(text: str, reasonable_means: bool = False) -> Kind | None:
    """What an inbound message says about consent; None when it says nothing."""
    word = _normal(text).upper()
    if word in OPT_OUT:
        return "opt_out"
    if word in OPT_IN:
        return "opt_in"
    if word in HELP:
        return "help"
    if reasonable_means:
        words = re.sub(r"[^a-z' -]", "", _normal(text).lower()).strip()
        if (len(words.split()) <= MAX_REASONABLE_WORDS and _REASONABLE.match(words)
                and not _NEGATED.search(words)):
            return "opt_out"
    return None


def address_of(raw: str) -> str:
    """The person a consent entry is about, across channels: one number for SMS and WhatsApp (`whatsapp:`
    dropped), an X handle or id as given (handles case-insensitive)."""
    text = raw.strip().removeprefix("whatsapp:")
    return text.lower() if text.startswith("@") else text


def address_key(secret: bytes, address: str) -> str:
    """The keyed hash an entry is stored under: what stays after erasure, so an erased person who said STOP is
    never texted again, and nothing in the table names them."""
    return hmac.new(secret, address_of(address).encode(), hashlib.sha256).hexdigest()[:40]


def slot(scope: str, applies_to: AppliesTo) -> str:
    return f"{scope}|{applies_to}"


def blocking(item: ConsentItem | None, scope: str, channel: str, purpose: str) -> ConsentEntry | None:
    """The entry that forbids this send, if any: an opt-out of everything in the global scope or the message's
    own, or (WhatsApp marketing only) an opt-out of WhatsApp marketing in either."""
    if item is None:
        return None
    scopes = [GLOBAL] if scope == GLOBAL else [GLOBAL, scope]
    kinds: list[AppliesTo] = ["all"]
    if channel == "whatsapp" and purpose == "marketing":
        kinds.append("whatsapp_marketing")
    for one in scopes:
        for applies_to in kinds:
            entry = item.entries.get(slot(one, applies_to))
            if entry is not None and entry.status == "opted_out":
                return entry
    return None


def entry_id(address_hash: str, scope: str, applies_to: AppliesTo, at: datetime) -> str:
    digest = hashlib.blake2b(f"{address_hash}|{scope}|{applies_to}|{at.isoformat()}".encode(), digest_size=6)
    return "cns_" + digest.hexdigest()


def record(item: ConsentItem, scope: str, applies_to: AppliesTo, status: Literal["opted_out", "opted_in"],
           evidence: ConsentEvidence) -> ConsentItem:
    """The item with one entry set (and the change kept in its history). An opt-in lifts the scope's WhatsApp
    marketing opt-out too: the person asked for messages again."""
    entries = dict(item.entries)
    history = list(item.history)
    slots: list[AppliesTo] = [applies_to]
    if status == "opted_in" and applies_to == "all":
        slots.append("whatsapp_marketing")
    changed = False
    for one in slots:
        current = entries.get(slot(scope, one))
        if current is None and status == "opted_in" and one != applies_to:
            continue
        if current is not None and current.status == status:
            continue  # the same word again (a redelivered webhook): nothing changes
        entry = ConsentEntry(id=entry_id(item.key, scope, one, evidence.at), scope=scope, applies_to=one,
                             status=status, evidence=evidence)
        entries[slot(scope, one)] = entry
        history.append(entry)
        changed = True
    if not changed:
        return item
    return item.model_copy(update={"entries": entries, "history": history[-HISTORY_LIMIT:]})


def remove(item: ConsentItem, scope: str, applies_to: AppliesTo, evidence: ConsentEvidence) -> ConsentItem:
    """An operator's removal: the entry goes, the history keeps it and who removed it."""
    current = item.entries.get(slot(scope, applies_to))
    if current is None:
        return item
    entries = {k: v for k, v in item.entries.items() if k != slot(scope, applies_to)}
    gone = current.model_copy(update={"status": "removed", "evidence": evidence})
    return item.model_copy(update={"entries": entries, "history": [*item.history, gone][-HISTORY_LIMIT:]})
