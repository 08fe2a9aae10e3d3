"""Which Hub to talk to, with which token, how long to wait: the arguments every Hub
call of :mod:`hubpg.hub` resolves first. A loopback endpoint is hubpg's own local Hub
(``hubpg hub serve``): its messages give local advice, never huggingface.co's.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from urllib.parse import urlparse

from hubpg.errors import ConfigError, TokenError

DEFAULT_ENDPOINT = "https://huggingface.co"
#: Seconds a request may wait when nothing says otherwise (:func:`resolve_timeout`).
DEFAULT_TIMEOUT_S = 30.0
#: What to do when a local Hub refuses or lacks a token.
LOCAL_TOKEN_ADVICE = (
    "pass --token with the token `hubpg hub serve` printed, or start the server with "
    "--user NAME:TOKEN and pass that TOKEN"
)


def resolve_endpoint(endpoint: str | None) -> str:
    """``endpoint``, else ``HF_ENDPOINT``, else huggingface.co; without a trailing slash.

    Args:
        endpoint: an http(s) URL, or None for the default.
    """
    value = endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(f"endpoint {value!r} is not an http(s) URL; use e.g. {DEFAULT_ENDPOINT}")
    return value.rstrip("/")


def resolve_token(token: str | None) -> str | None:
    """``token``, else ``HF_TOKEN``, else the token stored by ``hf auth login``.

    Args:
        token: a token, or None for the default.
    """
    from huggingface_hub import get_token

    return token or os.environ.get("HF_TOKEN") or get_token()


def require_token(token: str | None, endpoint: str) -> str:
    """:func:`resolve_token`, or :class:`~hubpg.errors.TokenError` saying where a token
    comes from (for a local Hub, the one ``hubpg hub serve`` printed).

    Args:
        token: a token, or None for the default.
        endpoint: the resolved Hub URL (:func:`resolve_endpoint`).
    """
    found = resolve_token(token)
    if found:
        return found
    if is_loopback(endpoint):
        raise TokenError(
            f"no Hugging Face token for the local Hub at {endpoint}: {LOCAL_TOKEN_ADVICE}"
        )
    raise TokenError(
        "no Hugging Face token: pass --token, set HF_TOKEN, or run `hf auth login` "
        "(create a write token at https://huggingface.co/settings/tokens)"
    )


def is_loopback(endpoint: str) -> bool:
    """True for http(s)://127.x, localhost or [::1] endpoints.

    Args:
        endpoint: a Hub URL.
    """
    host = (urlparse(endpoint).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


def resolve_timeout(timeout: float | None = None) -> float:
    """Seconds every Hub request may wait: ``timeout``, else the larger of
    huggingface_hub's ``HF_HUB_DOWNLOAD_TIMEOUT`` and ``HF_HUB_ETAG_TIMEOUT`` when set,
    else :data:`DEFAULT_TIMEOUT_S`.

    Args:
        timeout: seconds (> 0), or None for the default.
    """
    if timeout is None:
        found = [_env_seconds(name) for name in ("HF_HUB_DOWNLOAD_TIMEOUT", "HF_HUB_ETAG_TIMEOUT")]
        found = [value for value in found if value is not None]
        return max(found) if found else DEFAULT_TIMEOUT_S
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise ConfigError(f"timeout must be a number of seconds (got {timeout!r})")
    if not (math.isfinite(timeout) and timeout > 0):
        raise ConfigError(f"timeout must be a positive number of seconds (got {timeout!r})")
    return float(timeout)


def _env_seconds(name: str) -> float | None:
    try:
        value = float(os.environ.get(name, ""))
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


@dataclass(frozen=True)
class HubTarget:
    """Where and how to reach a Hub: ``endpoint``, ``token`` (never shown in ``repr``)
    and ``timeout`` (seconds per request); None for :func:`resolve_endpoint`'s,
    :func:`resolve_token`'s and :func:`resolve_timeout`'s defaults."""

    endpoint: str | None = None
    token: str | None = field(default=None, repr=False)
    timeout: float | None = None

    def resolved(self) -> HubTarget:
        """The same target with the endpoint and token looked up and the timeout checked
        (an explicit timeout stays explicit)."""
        if self.timeout is not None:
            resolve_timeout(self.timeout)
        return HubTarget(resolve_endpoint(self.endpoint), resolve_token(self.token), self.timeout)

    def for_writing(self) -> HubTarget:
        """:meth:`resolved`, refused (:class:`~hubpg.errors.TokenError`, with local advice
        for a local Hub) without a token."""
        target = self.resolved()
        endpoint = target.endpoint or DEFAULT_ENDPOINT
        return HubTarget(endpoint, require_token(target.token, endpoint), target.timeout)
