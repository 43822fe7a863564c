"""X OAuth 2.0 tokens per sending account (config table, pk X_TOKEN): the current access token, its expiry, and the
refresh token X rotated to, which is single-use. Every change is a conditional write on `version`, so concurrent
senders never lose a rotated refresh token, and a short lease lets exactly one of them refresh (single flight
across Lambda instances)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from chalicelib.platform import aws
from chalicelib.platform.dynamo_codec import from_item, to_item, to_value
from chalicelib.platform.settings import get_settings

KIND = "X_TOKEN"


class TokenState(BaseModel):
    access_token: str | None = None
    expires_at: float = 0.0  # epoch seconds
    refresh_token: str | None = None
    seed: str | None = None  # the refresh token the credentials held when we last took one from them
    version: int = 0
    leased_until: float = 0.0


def _key(account: str) -> dict[str, Any]:
    return to_item({"pk": KIND, "sk": account})


def get(account: str) -> TokenState:
    found = aws.client("dynamodb").get_item(TableName=get_settings().config_table, Key=_key(account),
                                            ConsistentRead=True)
    item = found.get("Item")
    return TokenState.model_validate(from_item(item)["data"]) if item else TokenState()


def _put(account: str, state: TokenState, expected_version: int) -> bool:
    condition = "attribute_not_exists(pk)" if expected_version == 0 else "#d.version = :v"
    kwargs: dict[str, Any] = {
        "TableName": get_settings().config_table,
        "Item": to_item({"pk": KIND, "sk": account, "data": state.model_dump()}),
        "ConditionExpression": condition,
    }
    if expected_version:
        kwargs["ExpressionAttributeNames"] = {"#d": "data"}
        kwargs["ExpressionAttributeValues"] = {":v": to_value(expected_version)}
    try:
        aws.client("dynamodb").put_item(**kwargs)
    except Exception as exc:
        if aws.is_conditional_failure(exc):
            return False
        raise
    return True


def lease(account: str, state: TokenState, now: float, seconds: float) -> TokenState | None:
    """The state with a refresh lease taken, or None when another sender holds one or changed it first."""
    if state.leased_until > now:
        return None
    leased = state.model_copy(update={"leased_until": now + seconds, "version": state.version + 1})
    return leased if _put(account, leased, state.version) else None


def save(account: str, leased: TokenState, access_token: str, expires_at: float, refresh_token: str,
         seed: str | None) -> bool:
    done = leased.model_copy(update={"access_token": access_token, "expires_at": expires_at,
                                     "refresh_token": refresh_token, "seed": seed, "leased_until": 0.0,
                                     "version": leased.version + 1})
    return _put(account, done, leased.version)


def release(account: str, leased: TokenState) -> None:
    _put(account, leased.model_copy(update={"leased_until": 0.0, "version": leased.version + 1}), leased.version)
