"""hubpg's exceptions.

Every error a user can cause is a :class:`HubpgError` that also subclasses the
matching builtin (``ValueError``, ``FileNotFoundError``, ...), so library users
can catch either. The CLI turns them into one line, ``error: WHAT. HOW TO FIX.``,
and an exit status: :attr:`HubpgError.exit_code` (2 bad input, 1 the work failed).
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


class RepoIdError(HubpgError, ValueError):
    """A repo id is not of the form NAMESPACE/NAME."""


class TokenError(HubpgError, PermissionError):
    """No token, or the token was refused."""


class InterruptedByUser(HubpgError, InterruptedError):
    """Ctrl-C; the message says what was kept."""

    exit_code = 130


class CardDataError(HubpgError, ValueError):
    """A model card's YAML metadata breaks hubpg's rule (aliases, non-string keys, too deep
    or too large, or a shape huggingface_hub cannot read); see :mod:`hubpg.cardsafe`."""


class HubTimeoutError(HubpgError, TimeoutError):
    """The Hub did not answer within the timeout (``--timeout``)."""

    exit_code = 1


class UploadRefusedError(HubpgError, PermissionError):
    """A package folder holds something push never uploads (a symlink, a pickle)."""
