"""API-key authentication: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``.

Keys are compared as SHA-256 digests with :func:`hmac.compare_digest`, against every configured key
without stopping at a match, so neither a key's length nor its position leaks through timing. A request
with a valid key carries the key's identity, ``key-`` and the first 12 hex digits of its digest, on
``request.state.api_key_identity``: the source-shift monitor's site when no ``X-CXR-Site`` is sent. It
names a key in ``/metrics`` without revealing it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from service.errors import UnauthorizedError

bearer_scheme = HTTPBearer(
    auto_error=False, scheme_name="BearerKey", description="An API key sent as `Authorization: Bearer <key>`."
)
header_scheme = APIKeyHeader(
    name="X-API-Key", auto_error=False, scheme_name="ApiKeyHeader", description="An API key in `X-API-Key`."
)


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


class ApiKeyVerifier:
    def __init__(self, keys: Iterable[SecretStr]) -> None:
        self._digests = tuple(_digest(key.get_secret_value()) for key in keys)

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def accepts(self, presented: str) -> bool:
        digest = _digest(presented)
        matched = False
        for known in self._digests:
            matched |= hmac.compare_digest(digest, known)
        return matched


def key_identity(key: str) -> str:
    """A configured key's name where a name is needed: a prefix of its SHA-256, never the key."""
    return "key-" + _digest(key).hex()[:12]


async def require_api_key(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    header_key: Annotated[str | None, Depends(header_scheme)],
) -> None:
    verifier: ApiKeyVerifier = request.app.state.api_keys
    if not verifier.enabled:
        return
    presented = [key for key in (bearer.credentials if bearer else None, header_key) if key]
    if not presented:
        raise UnauthorizedError(
            "This endpoint needs an API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'."
        )
    # A list, not a generator: every presented key is checked, whichever matches.
    accepted = [verifier.accepts(key) for key in presented]
    if not any(accepted):
        raise UnauthorizedError("The API key is not valid.")
    request.state.api_key_identity = key_identity(presented[accepted.index(True)])
