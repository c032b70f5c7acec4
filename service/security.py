"""Optional API keys (constant-time comparison) and a per-client rate limit (slowapi)."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request
from slowapi import Limiter
from slowapi.util import get_remote_address

from service.settings import Settings


def presented_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key")


def key_is_valid(candidate: str | None, keys: list[str]) -> bool:
    if candidate is None:
        return False
    # Compare against every key so the time taken says nothing about which one came close.
    matches = [hmac.compare_digest(candidate.encode(), key.encode()) for key in keys]
    return any(matches)


def api_key_guard(settings: Settings):
    """A dependency that enforces HEARTFELT_API_KEYS when it is set, and does nothing otherwise."""

    async def guard(request: Request) -> None:
        if settings.api_keys and not key_is_valid(presented_key(request), settings.api_keys):
            raise HTTPException(401, "a valid API key is required (Authorization: Bearer <key> or X-API-Key)")

    return guard


def client_key(request: Request) -> str:
    """Rate-limit per API key when one is presented, else per client address."""
    key = presented_key(request)
    return f"key:{key}" if key else f"ip:{get_remote_address(request)}"


def build_limiter(settings: Settings) -> Limiter:
    limits = [settings.rate_limit] if settings.rate_limit else []
    return Limiter(key_func=client_key, default_limits=limits, enabled=bool(limits), headers_enabled=False)
