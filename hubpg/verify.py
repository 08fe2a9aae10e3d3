"""The one verify pipeline, what ``load-and-eval`` and every leaderboard row run:
:func:`fetch` (download a repo's few files at one commit and rebuild its policy, never
from a pickle unless ``legacy``), :func:`measure` (the seeded evaluation) and
:func:`judge` (the card's claim against it); :func:`verify_one` is the three in a row.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubpg.claims import Claim, Verdict, judge_claim, read_claim, read_episode_count
from hubpg.errors import ConfigError, MissingFileError, PickleRefusedError
from hubpg.hub import Downloaded, HubTarget, download
from hubpg.repoid import validate_repo_id
from hubpg.results import Evaluated, Verified
from hubpg.runfolder import (
    CARD_NAME,
    CONFIG_NAME,
    HYPERPARAMETERS_NAME,
    PICKLE_SUFFIXES,
    RESULTS_NAME,
    WEIGHTS_NAME,
    read_json,
)
from hubpg.sniff import check_not_foreign

if TYPE_CHECKING:  # torch is imported only when a policy is built
    from hubpg.config import PolicyConfig
    from hubpg.legacy import LegacyModel
    from hubpg.policy import Policy

#: The files a check downloads: the policy, the claim's episode count, the card.
LOAD_FILES = (CONFIG_NAME, WEIGHTS_NAME, RESULTS_NAME, CARD_NAME)
#: With ``legacy``, the course's hyperparameters.json too (it may name the env).
LEGACY_LOAD_FILES = (*LOAD_FILES, HYPERPARAMETERS_NAME)


@dataclass
class Fetched:
    """One model repo at one commit, its policy rebuilt: what :func:`fetch` returns."""

    repo_id: str
    #: The commit sha every file came from.
    revision: str
    policy: Policy
    #: File name -> downloaded path.
    files: dict[str, Path]
    #: The card's claim (None: no card, or no parsable claim in it).
    claim: Claim | None
    #: ``results.json``'s episode count (None: no file, or no believable count).
    claimed_n_episodes: int | None
    #: With ``legacy``: what was read and assumed (:meth:`hubpg.legacy.LegacyModel.report`).
    legacy: dict[str, Any] | None = None
    #: With ``legacy``: the course checkpoint read; None for a hubpg repo.
    legacy_model: LegacyModel | None = None

    @property
    def config(self) -> PolicyConfig:
        """The policy's config (its ``env_id``, sizes, ...)."""
        return self.policy.config

    @property
    def env_id(self) -> str:
        """The env the policy plays."""
        return self.policy.config.env_id


def fetch(
    repo_id: str,
    *,
    revision: str | None = None,
    target: HubTarget | None = None,
    legacy: bool = False,
    env_id: str | None = None,
    card: bool = True,
    max_bytes: int | None = None,
    listed: list[str] | None = None,
    into: Path | None = None,
) -> Fetched:
    """Download what a check needs of ``repo_id`` at one commit and rebuild its policy
    (no pickle, no code from the repo).

    Args:
        repo_id: ``NAMESPACE/NAME``.
        revision: branch, tag or commit (default: main); the result names the commit.
        target: the Hub, token and timeout (default: :class:`~hubpg.hub.HubTarget`'s).
        legacy: a repo with only a course checkpoint (``model.pt``) is read with
            torch's weights-only unpickler instead of being refused.
        env_id: the env the model must play (a course checkpoint's default; a hubpg repo
            whose ``config.json`` names another is refused).
        card: download the card too (for the claim; always with ``legacy``).
        max_bytes: the largest course checkpoint downloaded with ``legacy``.
        listed: the repo's file names at ``revision`` (a commit sha) as a listing gave
            them: no ``model_info`` request (ignored with ``legacy``).
        into: a folder to fetch the files into, bypassing the download cache.
    """
    validate_repo_id(repo_id)
    wanted = LEGACY_LOAD_FILES if legacy else LOAD_FILES
    if not card and not legacy:  # a course checkpoint's card may name its env
        wanted = tuple(name for name in wanted if name != CARD_NAME)
    got = download(
        repo_id,
        wanted,
        revision=revision,
        target=target,
        choose=partial(_choose_files, repo_id, wanted, legacy, max_bytes),
        files_metadata=legacy,
        listed=None if legacy else listed,
        into=into,
    )
    policy, model = rebuild(got, legacy=legacy, env_id=env_id, max_bytes=max_bytes)
    results = got.files.get(RESULTS_NAME)
    return Fetched(
        repo_id=repo_id,
        revision=got.revision,
        policy=policy,
        files=got.files,
        claim=claim_of(got.files),
        claimed_n_episodes=read_episode_count(results) if results is not None else None,
        legacy=None if model is None else model.report(),
        legacy_model=model,
    )


def _choose_files(
    repo_id: str,
    wanted: tuple[str, ...],
    legacy: bool,
    max_bytes: int | None,
    siblings: list[Any],
) -> tuple[str, ...]:
    """The files to download once the repo's listing is known (see :func:`fetch`)."""
    present = {s.rfilename for s in siblings}
    if legacy and not {WEIGHTS_NAME, CONFIG_NAME} <= present:
        from hubpg.legacy import checkpoint_to_download

        return (*wanted, checkpoint_to_download(repo_id, siblings, max_bytes))
    check_loadable(repo_id, present)
    return wanted


def check_loadable(repo_id: str, files: set[str]) -> None:
    """Refuse repos without safetensors weights: pickle-only ones with an explanation.

    Args:
        repo_id: the repo, for the message.
        files: the names of its files.
    """
    if WEIGHTS_NAME in files and CONFIG_NAME in files:
        return
    check_not_foreign(repo_id, files)  # another library's model: named, no --legacy advice
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


def rebuild(
    got: Downloaded,
    *,
    legacy: bool = False,
    env_id: str | None = None,
    max_bytes: int | None = None,
) -> tuple[Policy, LegacyModel | None]:
    """The policy of a downloaded repo and, when it came from a course checkpoint
    (``legacy``), the :class:`~hubpg.legacy.LegacyModel` read.

    Args:
        got: what :func:`hubpg.hub.download` fetched.
        legacy: read a course checkpoint when the repo has no safetensors weights.
        env_id: the env the model must play (see :func:`fetch`).
        max_bytes: the largest course checkpoint read (default: the reader's).
    """
    if legacy and not (CONFIG_NAME in got.files and WEIGHTS_NAME in got.files):
        from hubpg.legacy import read_files

        read = {} if max_bytes is None else {"max_bytes": max_bytes}
        model = read_files(
            got.files, env_id=env_id, repo_id=got.repo_id, revision=got.revision, **read
        )
        return model.policy, model
    policy = policy_from_files(got.files, got.repo_id)
    if env_id is not None and policy.config.env_id != env_id:
        raise ConfigError(f"its config.json is for {policy.config.env_id}, not {env_id}")
    return policy, None


def policy_from_files(files: dict[str, Path], repo_id: str) -> Policy:
    """The policy of downloaded ``config.json`` and ``model.safetensors``, checked
    against its env and the weights' shapes before anything is built.

    Args:
        files: file name -> downloaded path (as :attr:`hubpg.hub.Downloaded.files`).
        repo_id: the repo, for messages.
    """
    from hubpg.config import PolicyConfig
    from hubpg.envs import env_action_space, env_dims
    from hubpg.policy import Policy, check_policy_matches_env

    try:
        shown = f"{repo_id}/{CONFIG_NAME}"
        config = PolicyConfig.from_dict(read_json(files[CONFIG_NAME], source=shown), source=shown)
        space = env_action_space(config.env_id)  # a box policy's bounds are checked too
        check_policy_matches_env(config, *env_dims(config.env_id), space)
    except ConfigError as exc:
        raise ConfigError(f"{exc}; the repo's config.json is not a hubpg policy config") from exc
    return Policy.from_files(config, files[WEIGHTS_NAME], source=f"{repo_id}/{WEIGHTS_NAME}")


def claim_of(files: dict[str, Path]) -> Claim | None:
    """The card's claim (with ``results.json``'s episode count) of downloaded or
    packaged files; None when there is no parsable claim.

    Args:
        files: file name -> path.
    """
    if CARD_NAME not in files:
        return None
    return read_claim(files[CARD_NAME], results=files.get(RESULTS_NAME))


def measure(
    policy: Policy | Fetched,
    *,
    env_id: str | None = None,
    episodes: int = 100,
    seed: int = 0,
    deterministic: bool = False,
    max_t: int | None = None,
) -> Evaluated:
    """The seeded evaluation of a fetched (or any) policy, as ``hubpg evaluate`` runs it.

    Args:
        policy: a :class:`Fetched` or a :class:`~hubpg.policy.Policy`.
        env_id: the env to play (default: the policy's).
        episodes: evaluation episodes; episode k is reset with seed ``seed + k``.
        seed: seed of episode 0.
        deterministic: argmax actions instead of sampled ones.
        max_t: cap on one episode's steps (default: the env's evaluation cap).
    """
    from hubpg.evaluation import evaluate

    if isinstance(policy, Fetched):
        policy = policy.policy
    return evaluate(
        policy,
        env_id=env_id,
        episodes=episodes,
        seed=seed,
        deterministic=deterministic,
        max_t=max_t,
    )


def judge(claim: Claim | None, result: Evaluated) -> Verdict | None:
    """The verdict of ``result`` on ``claim`` (:func:`hubpg.claims.judge_claim`); None
    without a claim.

    Args:
        claim: what the card claims, or None.
        result: the measurement.
    """
    if claim is None:
        return None
    return judge_claim(
        claim,
        env_id=result.env_id,
        mean=result.mean_reward,
        std=result.std_reward,
        n=result.n_episodes,
    )


def verify_one(
    repo_id: str,
    *,
    revision: str | None = None,
    target: HubTarget | None = None,
    legacy: bool = False,
    env_id: str | None = None,
    episodes: int = 100,
    seed: int = 0,
    deterministic: bool = False,
    max_t: int | None = None,
    video: Path | str | None = None,
) -> Verified:
    """:func:`fetch`, :func:`measure` and :func:`judge` in a row: what
    ``hubpg load-and-eval`` does.

    Args:
        repo_id: ``NAMESPACE/NAME``.
        revision: branch, tag or commit (default: main).
        target: the Hub, token and timeout.
        legacy: read a course checkpoint weights-only when there is no safetensors.
        env_id: the env the model must play (see :func:`fetch`).
        episodes: evaluation episodes.
        seed: seed of episode 0.
        deterministic: argmax actions instead of sampled ones.
        max_t: cap on one episode's steps (default: the env's evaluation cap).
        video: also record a replay of the fetched policy to this mp4.
    """
    fetched = fetch(repo_id, revision=revision, target=target, legacy=legacy, env_id=env_id)
    result = measure(
        fetched,
        env_id=env_id,
        episodes=episodes,
        seed=seed,
        deterministic=deterministic,
        max_t=max_t,
    )
    verdict = judge(fetched.claim, result)
    if video is not None:
        from hubpg.packaging import VIDEO_MAX_T, record_replay

        record_replay(
            fetched.policy,
            result.env_id,
            Path(video),
            seed,
            deterministic,
            min(result.max_t, VIDEO_MAX_T),
        )
    return Verified(
        repo_id=repo_id,
        revision=fetched.revision,
        evaluation=result,
        claimed=None if fetched.claim is None else fetched.claim.to_dict(),
        claim_supported=None if verdict is None else verdict.supported,
        claim_problem=None if verdict is None else verdict.problem,
        claim_verdict=None if verdict is None else verdict.to_dict(),
        legacy=fetched.legacy,
        legacy_read=legacy,
        video=None if video is None else Path(video),
    )


__all__ = [
    "LEGACY_LOAD_FILES",
    "LOAD_FILES",
    "Fetched",
    "check_loadable",
    "claim_of",
    "fetch",
    "judge",
    "measure",
    "policy_from_files",
    "rebuild",
    "verify_one",
]
