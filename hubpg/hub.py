"""Push a package to the Hub in one commit; load a policy back without unpickling.

Any endpoint works (``--endpoint``, else ``HF_ENDPOINT``, else huggingface.co).
Xet uploads are switched off only for loopback endpoints (hubpg's own local Hub,
which speaks plain Git LFS), never for the real Hub.
"""

from __future__ import annotations

import math
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from hubpg.config import PolicyConfig
from hubpg.errors import (
    ConfigError,
    HubError,
    HubpgError,
    MissingFileError,
    PickleRefusedError,
    RepoIdError,
    TokenError,
)
from hubpg.runfolder import (
    CARD_NAME,
    CONFIG_NAME,
    HYPERPARAMETERS_NAME,
    PICKLE_SUFFIXES,
    RESULTS_NAME,
    WEIGHTS_NAME,
    latest_run,
    read_json,
)

if TYPE_CHECKING:  # torch is imported only when a policy is built
    from hubpg.policy import Policy

DEFAULT_ENDPOINT = "https://huggingface.co"
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
REPO_ID_RE = re.compile(rf"^{_NAME}/{_NAME}$")
LOAD_FILES = (CONFIG_NAME, WEIGHTS_NAME, RESULTS_NAME, CARD_NAME)
#: With ``legacy=True`` the course's hyperparameters.json is read too (for the env id),
#: besides the checkpoint itself.
LEGACY_LOAD_FILES = (*LOAD_FILES, HYPERPARAMETERS_NAME)
#: A claim is unsupported when it exceeds the measurement by more than this many
#: standard errors (of the difference of the two means), plus the card's rounding.
CLAIM_Z = 3.0
#: Episodes assumed behind a claim whose count is unknown (the course evaluates 10).
COURSE_EVAL_EPISODES = 10


class RepoNotFound(HubpgError, FileNotFoundError):
    """The repo or revision does not exist (or is private to someone else)."""


@dataclass
class PushResult:
    """Where a push went."""

    repo_id: str
    url: str
    commit_sha: str
    commit_url: str
    package_dir: Path
    revision: str


# --------------------------------------------------------------------------- arguments


def validate_repo_id(repo_id: str) -> str:
    """``NAMESPACE/NAME`` with the Hub's characters, or :class:`RepoIdError`."""
    if (
        not isinstance(repo_id, str)
        or not REPO_ID_RE.match(repo_id)
        or ".." in repo_id
        or ("--" in repo_id)
    ):
        raise RepoIdError(
            f"repo id {repo_id!r} is not of the form NAMESPACE/NAME (letters, digits, '-', '_', "
            "'.'; at most 96 characters each); use e.g. your-name/Reinforce-CartPole-v1"
        )
    return repo_id


def resolve_endpoint(endpoint: str | None) -> str:
    """``endpoint``, else ``HF_ENDPOINT``, else huggingface.co; without a trailing slash."""
    value = endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(f"endpoint {value!r} is not an http(s) URL; use e.g. {DEFAULT_ENDPOINT}")
    return value.rstrip("/")


def resolve_token(token: str | None) -> str | None:
    """``token``, else ``HF_TOKEN``, else the token stored by ``hf auth login``."""
    if token:
        return token
    if os.environ.get("HF_TOKEN"):
        return os.environ["HF_TOKEN"]
    from huggingface_hub import get_token

    return get_token()


def is_loopback(endpoint: str) -> bool:
    """True for http(s)://127.x, localhost or [::1] endpoints."""
    host = (urlparse(endpoint).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


def _configure_client(endpoint: str) -> None:
    """Plain Git LFS for loopback endpoints (no Xet there); no per-file progress bars
    (a package is a few small files, and hubpg reports the result itself)."""
    import huggingface_hub.constants as constants
    from huggingface_hub.utils import disable_progress_bars

    if is_loopback(endpoint):
        constants.HF_HUB_DISABLE_XET = True
    disable_progress_bars()
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


@contextmanager
def hub_errors(action: str, repo_id: str, endpoint: str, token_given: bool):
    """Turn huggingface_hub / network exceptions into hubpg's one-line errors."""
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        yield
    except HubpgError:
        raise
    except RevisionNotFoundError as exc:
        raise RepoNotFound(
            f"{repo_id} has no revision like that on {endpoint}; list its commits on the Hub "
            "or omit --revision"
        ) from exc
    except RepositoryNotFoundError as exc:
        hint = "check the name" + ("" if token_given else ", or pass --token for a private repo")
        raise RepoNotFound(f"repo {repo_id} not found on {endpoint}; {hint}") from exc
    except EntryNotFoundError as exc:
        raise MissingFileError(f"{repo_id} has no file {_missing_name(exc)}") from exc
    except LocalEntryNotFoundError as exc:
        raise HubError(
            f"{action} failed: could not download from {endpoint} ({_first_line(exc)}); check the "
            "endpoint and your connection and retry"
        ) from exc
    except HfHubHTTPError as exc:
        status = getattr(exc.response, "status_code", None)
        server = _first_line(exc)
        if status == 401:
            raise TokenError(
                f"{endpoint} refused the token (401: {server}); pass a valid --token or run "
                "`hf auth login`"
            ) from exc
        if status == 403:
            raise TokenError(
                f"the token may not write to {repo_id} (403: {server}); use a token of the "
                "repo's owner with write access"
            ) from exc
        raise HubError(
            f"{action} failed: {endpoint} answered {status} ({server}); retry later"
        ) from exc
    except OSError as exc:
        raise HubError(
            f"{action} failed: could not reach {endpoint} ({_first_line(exc)}); "
            "check the endpoint and retry"
        ) from exc
    except Exception as exc:  # httpx transport errors, JSON decode errors from a broken server
        if type(exc).__module__.startswith(("httpx", "httpcore", "requests", "urllib3", "json")):
            raise HubError(
                f"{action} failed: talking to {endpoint} broke off ({type(exc).__name__}: "
                f"{_first_line(exc)}); "
                + (
                    "the repo is unchanged unless the commit completed; retry"
                    if action == "push"
                    else "check the endpoint and retry"
                )
            ) from exc
        raise


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _missing_name(exc: BaseException) -> str:
    match = re.search(r"resolve/[^/]+/(\S+?)[\s.]", str(exc))
    return match.group(1) if match else "that was asked for"


# --------------------------------------------------------------------------- push


def push(
    repo_id: str,
    run_dir: Path | str | None = None,
    private: bool = False,
    endpoint: str | None = None,
    token: str | None = None,
    commit_message: str | None = None,
    revision: str | None = None,
    **package_options: Any,
) -> PushResult:
    """Package ``run_dir`` if needed and upload the package to ``repo_id`` in one commit.

    ``run_dir`` may be a run folder (its ``hub/`` package is built when missing) or
    a package folder itself; the latest run under ``runs/`` when omitted.
    """
    from hubpg.packaging import default_package_dir, is_packaged, package, write_card

    validate_repo_id(repo_id)
    endpoint = resolve_endpoint(endpoint)
    token = resolve_token(token)
    if not token:
        raise TokenError(
            "no Hugging Face token: pass --token, set HF_TOKEN, or run `hf auth login` "
            "(create a write token at https://huggingface.co/settings/tokens)"
        )
    run_dir = Path(run_dir) if run_dir is not None else latest_run()
    if is_packaged(run_dir):
        package_dir = run_dir
    elif is_packaged(default_package_dir(run_dir)):
        package_dir = default_package_dir(run_dir)
    else:
        if not (run_dir / WEIGHTS_NAME).is_file() and not (run_dir / CONFIG_NAME).is_file():
            raise MissingFileError(f"{run_dir} is neither a hubpg run folder nor a package folder")
        package_dir = package(run_dir, repo_id=repo_id, **package_options).package_dir
    from hubpg.policy import Policy

    Policy.load(package_dir)  # never push weights that don't load
    write_card(package_dir, repo_id)
    env_id = read_json(package_dir / CONFIG_NAME)["env_id"]

    _configure_client(endpoint)
    from huggingface_hub import HfApi

    api = HfApi(endpoint=endpoint, token=token)
    with hub_errors("push", repo_id, endpoint, token_given=True):
        check_write_access(api, repo_id)
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision and revision != "main":
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        info = api.upload_folder(
            repo_id=repo_id,
            folder_path=str(package_dir),
            commit_message=commit_message or f"Upload REINFORCE agent for {env_id} (hubpg)",
            revision=revision,
            ignore_patterns=[".*", "*/.*"],
        )
    return PushResult(
        repo_id=repo_id,
        url=f"{endpoint}/{repo_id}",
        commit_sha=info.oid,
        commit_url=info.commit_url,
        package_dir=package_dir,
        revision=revision or "main",
    )


def check_write_access(api: Any, repo_id: str) -> None:
    """Refuse early when the token's user (or its orgs) does not own the namespace.

    Also sidesteps a client bug: ``create_repo(exist_ok=True)`` on another user's
    repo raises ``HfUriError`` on any non-huggingface.co endpoint."""
    who = api.whoami()
    owners = {who.get("name")} | {org.get("name") for org in who.get("orgs") or []}
    namespace = repo_id.split("/", 1)[0]
    if namespace not in owners:
        raise TokenError(
            f"the token belongs to {who.get('name')}, who may not write to {repo_id}; use a "
            f"token of {namespace} (or of a member of that organisation) with write access"
        )


# --------------------------------------------------------------------------- load


@dataclass
class Downloaded:
    """Files of one model repo at one commit."""

    repo_id: str
    revision: str
    files: dict[str, Path]


def download(
    repo_id: str,
    revision: str | None = None,
    endpoint: str | None = None,
    token: str | None = None,
    files: tuple[str, ...] = LOAD_FILES,
    *,
    legacy: bool = False,
    max_bytes: int | None = None,
) -> Downloaded:
    """Download only ``files`` (those that exist) of ``repo_id`` at one commit.

    A repo with pickled weights and no ``model.safetensors`` raises
    :class:`~hubpg.errors.PickleRefusedError`; nothing from it is loaded or executed.
    With ``legacy`` such a repo's course checkpoint (``model.pt``, at most
    ``max_bytes``) is downloaded too, for :mod:`hubpg.legacy` to read without running it."""
    validate_repo_id(repo_id)
    endpoint = resolve_endpoint(endpoint)
    token = resolve_token(token)
    _configure_client(endpoint)
    from huggingface_hub import HfApi, hf_hub_download

    api = HfApi(endpoint=endpoint, token=token or False)
    with hub_errors("download", repo_id, endpoint, token_given=bool(token)):
        info = api.model_info(repo_id, revision=revision, files_metadata=legacy)
        present = {s.rfilename for s in info.siblings or []}
        if legacy and not {WEIGHTS_NAME, CONFIG_NAME} <= present:
            from hubpg.legacy import checkpoint_to_download

            files = (*files, checkpoint_to_download(repo_id, info.siblings or [], max_bytes))
        else:
            check_loadable(repo_id, present)
        paths = {
            name: Path(
                hf_hub_download(
                    repo_id, name, revision=info.sha, endpoint=endpoint, token=token or False
                )
            )
            for name in files
            if name in present
        }
    return Downloaded(repo_id, info.sha, paths)


def check_loadable(repo_id: str, files: set[str]) -> None:
    """Refuse repos without safetensors weights: pickle-only ones with an explanation."""
    if WEIGHTS_NAME in files and CONFIG_NAME in files:
        return
    pickles = sorted(f for f in files if f.lower().endswith(PICKLE_SUFFIXES))
    if WEIGHTS_NAME not in files and pickles:
        raise PickleRefusedError(
            f"{repo_id} holds its weights only as a pickle ({', '.join(pickles)}); loading a "
            "pickle can run arbitrary code, so hubpg never does. Pass --legacy (library: "
            "legacy=True) to read a course checkpoint with torch's weights-only loader, no code "
            "run, or ask the author to re-share it with hubpg (model.safetensors + config.json)"
        )
    missing = [n for n in (WEIGHTS_NAME, CONFIG_NAME) if n not in files]
    raise MissingFileError(f"{repo_id} has no {' or '.join(missing)}; it was not shared with hubpg")


def load(
    repo_id: str,
    revision: str | None = None,
    endpoint: str | None = None,
    token: str | None = None,
    *,
    legacy: bool = False,
) -> tuple[Policy, PolicyConfig]:
    """Download a model and rebuild its policy strictly from ``config.json``
    (no pickle, no code from the repo). Returns ``(policy, config)``.

    ``legacy``: a repo with only a course checkpoint (``model.pt``) is read with
    torch's weights-only unpickler instead of being refused (:mod:`hubpg.legacy`)."""
    if legacy:
        got = download(repo_id, revision, endpoint, token, files=LEGACY_LOAD_FILES, legacy=True)
        policy = policy_from_download(got, legacy=True)[0]
        return policy, policy.config
    files = download(repo_id, revision, endpoint, token, files=(CONFIG_NAME, WEIGHTS_NAME)).files
    policy = _policy_from(files, repo_id)
    return policy, policy.config


def policy_from_download(
    got: Downloaded, *, legacy: bool = False
) -> tuple[Policy, dict[str, Any] | None]:
    """The policy of a downloaded repo and, when it came from a course checkpoint
    (``legacy``), what :meth:`hubpg.legacy.LegacyModel.report` says about it."""
    if legacy and not (CONFIG_NAME in got.files and WEIGHTS_NAME in got.files):
        from hubpg.legacy import read_files

        model = read_files(got.files, repo_id=got.repo_id, revision=got.revision)
        return model.policy, model.report()
    return _policy_from(got.files, got.repo_id), None


def _policy_from(files: dict[str, Path], repo_id: str) -> Policy:
    from hubpg.policy import Policy

    try:
        config = PolicyConfig.from_dict(
            read_json(files[CONFIG_NAME]), source=f"{repo_id}/config.json"
        )
    except ConfigError as exc:
        raise ConfigError(f"{exc}; the repo's config.json is not a hubpg policy config") from exc
    return Policy.from_files(config, files[WEIGHTS_NAME])


# --------------------------------------------------------------------------- load and evaluate


def claim_of(files: dict[str, Path]) -> dict[str, Any] | None:
    """The score the card claims (``model-index``), with the episode count from
    ``results.json`` when there is one; None when there is no parsable claim."""
    from hubpg.card import parse_claim

    if CARD_NAME not in files:
        return None
    try:
        mean, std = parse_claim(files[CARD_NAME])
    except ValueError:
        return None
    n = None
    if RESULTS_NAME in files:
        try:
            n = int(read_json(files[RESULTS_NAME]).get("n_evaluation_episodes"))
        except (HubpgError, TypeError, ValueError):
            n = None
    return {"mean_reward": mean, "std_reward": std, "score": mean - std, "n_episodes": n}


def claim_supported(claimed: dict[str, Any], mean: float, std: float, n: int) -> bool:
    """False when the claimed mean exceeds the measured one by more than
    :data:`CLAIM_Z` standard errors of the difference (plus the card's rounding)."""
    n_claim = claimed.get("n_episodes") or COURSE_EVAL_EPISODES
    se = math.sqrt(claimed["std_reward"] ** 2 / n_claim + std**2 / n)
    return claimed["mean_reward"] - mean <= CLAIM_Z * se + 0.01


def load_and_eval(
    repo_id: str,
    revision: str | None = None,
    episodes: int = 100,
    seed: int = 0,
    deterministic: bool = False,
    max_t: int | None = None,
    video: Path | str | None = None,
    endpoint: str | None = None,
    token: str | None = None,
    *,
    legacy: bool = False,
) -> dict[str, Any]:
    """Download ``repo_id``, evaluate it, and compare with its card's claim.

    ``legacy``: read a course checkpoint (``model.pt``) weights-only when the repo has
    no safetensors; the report's ``legacy`` says what was read and what was assumed."""
    from hubpg.evaluation import evaluate

    got = download(
        repo_id,
        revision,
        endpoint,
        token,
        files=LEGACY_LOAD_FILES if legacy else LOAD_FILES,
        legacy=legacy,
    )
    policy, legacy_report = policy_from_download(got, legacy=legacy)
    result = evaluate(
        policy, episodes=episodes, seed=seed, deterministic=deterministic, max_t=max_t
    )
    claimed = claim_of(got.files)
    report = {
        "repo_id": repo_id,
        "revision": got.revision,
        "env_id": result.env_id,
        **result.to_dict(),
        "score": result.score,
        "claimed": claimed,
        "claim_supported": (
            None
            if claimed is None
            else claim_supported(claimed, result.mean_reward, result.std_reward, episodes)
        ),
    }
    if legacy:
        report["legacy"] = legacy_report
    if video is not None:
        from hubpg.packaging import VIDEO_MAX_T, record_replay

        record_replay(
            policy, result.env_id, Path(video), seed, deterministic, min(result.max_t, VIDEO_MAX_T)
        )
        report["video"] = str(video)
    return report
