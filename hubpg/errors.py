"""hubpg's exceptions: each a :class:`HubpgError` that also subclasses the matching
builtin (``ValueError``, ``FileNotFoundError``, ...), so callers can catch either. The CLI
prints one line, ``error: WHAT. HOW TO FIX.``, and exits with :attr:`HubpgError.exit_code`
(2 bad input, 1 the work failed).
"""

from __future__ import annotations


class HubpgError(Exception):
    """Base class of every error hubpg reports to a user as one line."""

    exit_code: int = 2


class ConfigError(HubpgError, ValueError):
    """A hyperparameter, option or config file is invalid."""


class UnknownEnvError(HubpgError, KeyError):
    """The environment id is not registered with Gymnasium."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UnsupportedEnvError(HubpgError, ValueError):
    """The environment exists but hubpg cannot train or evaluate on it."""


class RunDirError(HubpgError, FileExistsError):
    """An output folder exists and would be overwritten."""


class MissingFileError(HubpgError, FileNotFoundError):
    """A file hubpg needs is missing."""


class WeightsError(HubpgError, ValueError):
    """Weights are corrupt or do not match their config."""


class PickleRefusedError(HubpgError, PermissionError):
    """A model is only available as a pickle, which hubpg never loads."""


class LegacyCheckpointError(HubpgError, ValueError):
    """A course checkpoint (a ``torch.save`` pickle) was refused: it needs a global hubpg
    never loads, is over the size cap, or holds a network hubpg cannot rebuild."""


class TrainingDivergedError(HubpgError, ArithmeticError):
    """Training produced a non-finite loss."""

    exit_code = 1


class TrainingFailedError(HubpgError, RuntimeError):
    """Training stopped on an unexpected error; the last complete update was saved."""

    exit_code = 1


class VideoError(HubpgError, RuntimeError):
    """Recording the replay video failed."""

    exit_code = 1


class HubError(HubpgError, ConnectionError):
    """Talking to the Hub failed (network, server, permissions)."""

    exit_code = 1


class HubUnreachableError(HubError):
    """The Hub's server takes no connection (refused, unknown host): "is the server at
    URL running?", at once, without retries."""


class RepoIdError(HubpgError, ValueError):
    """A repo id is not of the form NAMESPACE/NAME."""


class TokenError(HubpgError, PermissionError):
    """No token, or the token was refused."""


class InterruptedByUser(HubpgError, InterruptedError):
    """Ctrl-C; the message says what was kept."""

    exit_code = 130


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during training, raised after the last complete checkpoint was
    saved. Like Ctrl-C itself it is a ``KeyboardInterrupt``, not a :class:`HubpgError`,
    so ``except Exception`` never swallows it; the CLI reports it as
    :class:`InterruptedByUser` (exit 130).

    Args:
        run_dir: the run folder that holds the checkpoint.
        updates: the updates it holds.
        env_id: the run's env, for the command that continues it.
    """

    def __init__(self, run_dir: object, updates: int, env_id: str | None = None) -> None:
        import shlex

        message = f"interrupted after {updates} updates; checkpoint kept in {run_dir}"
        if env_id is not None:
            command = shlex.join(["hubpg", "train", env_id, "--out", str(run_dir), "--resume"])
            message += f". Continue it with: {command}"
        super().__init__(message)
        self.run_dir = run_dir
        self.updates = updates
        self.env_id = env_id
        self.resume_command = command if env_id is not None else None


class CardDataError(HubpgError, ValueError):
    """A model card's YAML metadata breaks hubpg's rule (aliases, non-string keys, too deep
    or too large, or a shape huggingface_hub cannot read); see :mod:`hubpg.cardsafe`."""


class HubTimeoutError(HubpgError, TimeoutError):
    """The Hub did not answer within the timeout (``--timeout``)."""

    exit_code = 1


class UploadRefusedError(HubpgError, PermissionError):
    """A package folder holds something push never uploads (a symlink, a pickle)."""


# --------------------------------------------------------------------------- model cards


class CardBuildError(HubpgError, ValueError):
    """A model card cannot be built from the values given (env id, score, episode count)."""


class CardTemplateError(HubpgError, FileNotFoundError):
    """The model card template is missing or unreadable (a broken installation)."""

    exit_code = 1


class CardMetadataError(HubpgError, ValueError):
    """A model card's metadata cannot be read, or claims no score that can be read back."""


# --------------------------------------------------------------------------- plots, video


class UnplottableLogError(HubpgError, ValueError):
    """The training log cannot be plotted (empty, or rows without the needed keys)."""


class PlotWriteError(HubpgError, OSError):
    """The learning-curve image cannot be written."""

    exit_code = 1


class FrameError(VideoError, ValueError):
    """A frame is not an image that can be encoded (wrong shape, dtype or size)."""


# --------------------------------------------------------------------------- the Hub, Ray


class RepoNotFoundError(HubpgError, FileNotFoundError):
    """The repo or revision does not exist (or is private to someone else)."""


class RayMissingError(HubpgError, ImportError):
    """``--ray`` was asked for but Ray is not installed."""


class MissingEnvDependencyError(HubpgError, ImportError):
    """The environment needs an optional package that is not installed (e.g. Box2D)."""


class ClaimNotSupportedError(HubpgError, RuntimeError):
    """``--strict``: the measurement does not support the model card's claim."""

    exit_code = 1


# --------------------------------------------------------------------------- the local Hub server


class ApiError(HubpgError, RuntimeError):
    """A local-Hub request refused the Hub's way: status, ``X-Error-Message``, maybe
    ``X-Error-Code`` (turned into a response by :mod:`hubpg.localhub.app`)."""

    exit_code = 1

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = dict(headers or {})


class StorageError(HubpgError, RuntimeError):
    """Base class of the local Hub storage's refusals (mapped to HTTP errors by the app)."""

    exit_code = 1


class RepoExistsError(StorageError):
    """The repo already exists."""


class RepoMissingError(StorageError):
    """The repo does not exist."""


class RevisionMissingError(StorageError):
    """The revision names no branch or commit of the repo."""


class BranchExistsError(StorageError):
    """The branch already exists."""


class EntryMissingError(StorageError):
    """A file or folder named by an operation does not exist."""


class ParentMismatchError(StorageError):
    """The branch moved since the commit the client based its change on."""


class DamagedDataError(StorageError):
    """A stored file the repo needs (a commit) is empty or unreadable."""


class InvalidOperationError(StorageError):
    """A commit operation is inconsistent (e.g. a file where a folder is)."""


# --------------------------------------------------------------------------- the verification store, the site


class CorruptStoreError(HubpgError, OSError):
    """The verification store (SQLite) is not a readable hubpg store; never replaced silently."""

    exit_code = 1

    def __str__(self) -> str:  # OSError would prefix an errno when given two args
        return str(self.args[0]) if self.args else ""


class StoreBusyError(HubpgError, TimeoutError):
    """Another run held the verification store locked for longer than the busy timeout."""

    exit_code = 1


class LeaderboardSiteError(HubpgError, FileExistsError):
    """The leaderboard site's folder exists and is not a hubpg leaderboard site."""


# --------------------------------------------------------------------------- course checkpoints (legacy)


class LegacyReaderError(LegacyCheckpointError):
    """Reading a course checkpoint in its own process ran past its time or memory limit
    (or that process died): the work failed, and nothing from the file ran."""

    exit_code = 1


class ForeignFormatError(HubpgError, ValueError):
    """A repo holds another RL library's model (stable-baselines3, CleanRL), which hubpg
    does not verify; :attr:`library` names it."""

    def __init__(self, message: str, library: str = "") -> None:
        super().__init__(message)
        self.library = library


class PickleWalkRefusal(HubpgError, ValueError):
    """Inside :mod:`hubpg.legacy.pickles`: a reason to refuse a pickle, which the walk
    completes with the file's name as a :class:`LegacyCheckpointError` (never shown as
    it is)."""

    exit_code = 2


class NotAPickleRefusal(PickleWalkRefusal):
    """Bytes that are no pickle torch's weights-only unpickler reads."""


# --------------------------------------------------------------------------- a student's own module (hubpg.live, hubpg.course)


class ModuleMismatchError(HubpgError, ValueError):
    """A module converted for sharing does not play what the student's own forward plays."""


# --------------------------------------------------------------------------- messages

#: The longest exception text hubpg quotes inside one of its own messages.
QUOTE_LIMIT = 300


def one_line(
    exc: BaseException | str, *, limit: int | None = QUOTE_LIMIT, whole: bool = False
) -> str:
    """An exception's message as hubpg quotes it inside one of its own one-line messages:
    the first non-empty line (every line, with ``whole``), whitespace collapsed, cut at
    ``limit`` characters; the exception's class name when it has no message.

    Args:
        exc: the exception (or a message).
        limit: the most characters kept (None: no cap).
        whole: join every line instead of keeping the first.
    """
    text = str(exc).strip()
    if text and not whole:
        text = text.splitlines()[0]
    text = " ".join(text.split())
    if not text:
        text = type(exc).__name__ if isinstance(exc, BaseException) else ""
    return text if limit is None else text[:limit]
