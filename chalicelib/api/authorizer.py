"""The management API's key check, a Chalice built-in authorizer: API Gateway calls it before any management
route. Its own Lambda function loads this module only (not app.py), so the check adds little to a request.

`Authorization: Bearer <key>`, a key from the stage's SSM list (platform/api_keys.py): the Authorization header
because chalice local only ever hands that one to authorizers. Webhooks sign instead. Not named `api_key`:
Chalice reserves that name for API Gateway's usage-plan keys (`x-api-key`), and an authorizer of that name is
silently replaced by them in the package.
"""

from __future__ import annotations

from chalice.app import AuthRequest, AuthResponse, Blueprint

from chalicelib.platform import api_keys

blueprint = Blueprint(__name__)


@blueprint.authorizer(ttl_seconds=api_keys.cache_seconds())
def bearer_key(auth_request: AuthRequest) -> AuthResponse:
    from chalicelib.platform.settings import get_settings

    settings = get_settings()
    if api_keys.allowed(auth_request.token, settings.api_keys_param, settings.api_auth):
        return AuthResponse(routes=["*"], principal_id="operator")
    return AuthResponse(routes=[], principal_id="anonymous")
