"""The one repo-id rule: ``NAMESPACE/NAME``, each part like the Hub's names.

Used by the client (:func:`hubpg.hub.validate_repo_id`, the model card's usage
snippet) and by the local Hub (:mod:`hubpg.localhub.validation`, which adds its
own stricter checks on paths, not on names).
"""

from __future__ import annotations

import re
from typing import Any

from hubpg.errors import RepoIdError

MAX_NAME_LENGTH = 96
_NAME_RE = re.compile(r"[A-Za-z0-9._-]+")


def name_problem(name: Any) -> str | None:
    """Why ``name`` is not a valid namespace or repo name, or None when it is.

    Like the Hub: ``[A-Za-z0-9._-]``, no ``--`` or ``..``, no leading or trailing
    ``-`` or ``.``, at most 96 characters.

    Args:
        name: one part of a repo id.
    """
    if not isinstance(name, str) or not name:
        return "the name is empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"the name is longer than {MAX_NAME_LENGTH} characters"
    if not _NAME_RE.fullmatch(name):
        return "only letters, digits, '-', '_' and '.' are allowed"
    if "--" in name or ".." in name:
        return "'--' and '..' are forbidden"
    if name[0] in "-." or name[-1] in "-.":
        return "'-' and '.' cannot start or end the name"
    return None


def repo_id_problem(repo_id: Any) -> str | None:
    """Why ``repo_id`` is not ``NAMESPACE/NAME``, or None when it is.

    Args:
        repo_id: the repo id to check.
    """
    if not isinstance(repo_id, str) or repo_id.count("/") != 1:
        return "it is not of the form NAMESPACE/NAME"
    for part in repo_id.split("/"):
        problem = name_problem(part)
        if problem is not None:
            return problem
    return None


def validate_repo_id(repo_id: Any) -> str:
    """``repo_id`` when it is ``NAMESPACE/NAME`` by :func:`repo_id_problem`, else
    :class:`~hubpg.errors.RepoIdError`.

    Args:
        repo_id: the repo id to check.
    """
    problem = repo_id_problem(repo_id)
    if problem is not None:
        shown = repr(repo_id)[:220]
        raise RepoIdError(
            f"repo id {shown} is not valid ({problem}); use NAMESPACE/NAME (letters, digits, "
            "'-', '_', '.'; at most 96 characters each), e.g. your-name/Reinforce-CartPole-v1"
        )
    return repo_id
