"""The models a leaderboard lists: every model tagged with the env (as the course
leaderboard lists them), or only those also carrying ``tag``."""

from __future__ import annotations

from typing import Any

from hubpg.ranking.rows import row_from_listing


class Listing:
    """Lists the models tagged ``env_id`` (and ``tag`` when given) on an endpoint; after
    :meth:`rows`, ``url`` and ``token`` are what it resolved (``HF_ENDPOINT``, ...).

    Args:
        env_id: the env tag.
        endpoint: the Hub (default: huggingface_hub's).
        token: a token (private models of its user are listed too).
        author: only this user's or organisation's models.
        tag: a further tag every listed model must carry (e.g. ``"reinforce"``).
        timeout: seconds each Hub request may wait.
    """

    def __init__(
        self,
        env_id: str,
        *,
        endpoint: str | None,
        token: str | None,
        author: str | None,
        tag: str | None = None,
        timeout: float | None = None,
    ) -> None:
        self.env_id = env_id
        self.timeout = timeout
        self.endpoint = endpoint
        self.author = author
        self.tag = tag
        self.given_token = token
        self.url = ""
        self.token: str | None = None
        #: repo id -> its file names at the listed commit (after :meth:`rows`).
        self.files: dict[str, list[str]] = {}

    @property
    def tags(self) -> list[str]:
        """The tags every listed model carries."""
        return [self.env_id, *([self.tag] if self.tag else [])]

    def resolve(self) -> None:
        """Resolve the endpoint, token and timeout (``HF_ENDPOINT``, stored login, ...)."""
        from hubpg.hub import resolve_endpoint, resolve_timeout, resolve_token

        self.url = resolve_endpoint(self.endpoint)
        self.token = resolve_token(self.given_token)
        resolve_timeout(self.timeout)

    def rows(self) -> list[dict[str, Any]]:
        """One row per listed model, claims read from the listing's card data."""
        # Imports torch (through hubpg.hub): with a pool, this runs in a thread
        # while the workers start.
        from hubpg.hub import hub_client, hub_errors, list_models

        self.resolve()
        with (
            hub_client(self.url, timeout=self.timeout),
            hub_errors(
                "listing models",
                f"models tagged {' and '.join(self.tags)}",
                self.url,
                token_given=bool(self.token),
            ),
        ):
            rows = []
            for item in list_models(self.url, self.token, tags=self.tags, author=self.author):
                rows.append(row_from_listing(item, self.env_id))
                names = listed_files(item)
                if names is not None and rows[-1]["revision"]:
                    self.files[rows[-1]["repo_id"]] = names
            return rows


def listed_files(item: Any) -> list[str] | None:
    """The file names a listing item gives (``siblings``), or None when it gives none
    or they cannot be read.

    Args:
        item: a listing item (``ModelInfo``, or an unreadable one).
    """
    siblings = getattr(item, "siblings", None)
    if not isinstance(siblings, list):
        return None
    names = [getattr(s, "rfilename", None) for s in siblings]
    return names if all(isinstance(n, str) for n in names) else None


__all__ = ["Listing"]
