"""A course checkpoint as a hubpg policy: :class:`LegacyModel` and :func:`read_checkpoint`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubpg.errors import ConfigError, LegacyCheckpointError
from hubpg.legacy.isolate import DEFAULT_READ_MEMORY_MIB, DEFAULT_READ_TIMEOUT_S, read_isolated
from hubpg.legacy.rebuild import Architecture, class_name, rebuild_module
from hubpg.legacy.scan import DEFAULT_MAX_BYTES, CheckpointScan

if TYPE_CHECKING:
    from hubpg.config import PolicyConfig
    from hubpg.policy import Policy


@dataclass
class LegacyModel:
    """A course checkpoint read as a hubpg policy, and where it came from."""

    policy: Policy
    config: PolicyConfig
    #: the file read (None for a live module, see :func:`read_module`)
    scan: CheckpointScan | None
    architecture: Architecture
    repo_id: str | None = None
    revision: str | None = None
    #: the downloaded repo's (or the folder's) files by name, when read from one
    files: dict[str, Path] = field(default_factory=dict, repr=False)
    #: the live module's class (``module.QualName``), when read from one
    module_class: str | None = None

    @property
    def assumed(self) -> list[str]:
        """What was not in the file and had to be assumed."""
        return self.architecture.assumed

    def report(self) -> dict[str, Any]:
        """A JSON-ready description (what ``legacy.json`` holds)."""
        import torch

        from hubpg import __version__

        network = {
            "env_id": self.config.env_id,
            "architecture": self.architecture.layers[0],
            "assumed": list(self.assumed),
        }
        if self.scan is None:
            return {
                "source_module": self.module_class,
                "kind": "live-module",
                **network,
                "read_with": f"hubpg {__version__} from the live torch.nn.Module (never pickled)",
            }
        return {
            "source_file": self.scan.path.name,
            "sha256": self.scan.sha256,
            "size": self.scan.size,
            "format": self.scan.format,
            "kind": self.scan.kind,
            "classes": sorted(self.scan.stand_ins),
            "repo_id": self.repo_id,
            "revision": self.revision,
            **network,
            "read_with": f"torch {torch.__version__} weights-only unpickler, hubpg {__version__}",
        }


def read_checkpoint(
    path: Path | str,
    *,
    env_id: str,
    max_bytes: int = DEFAULT_MAX_BYTES,
    repo_id: str | None = None,
    revision: str | None = None,
    read_timeout: float = DEFAULT_READ_TIMEOUT_S,
    memory_mib: int = DEFAULT_READ_MEMORY_MIB,
) -> LegacyModel:
    """Read a course checkpoint without running it, in a process of its own
    (:mod:`hubpg.legacy.isolate`), and rebuild it as a hubpg policy.

    Args:
        path: the ``torch.save`` file.
        env_id: the env it plays; its observation and action sizes must match.
        max_bytes: the size cap (default 64 MiB).
        repo_id: the repo it came from, if any (recorded only).
        revision: the commit it came from, if any (recorded only).
        read_timeout: seconds the reading process may take (its start included).
        memory_mib: MiB it may take beyond the interpreter and torch.
    """
    scan, arch = read_isolated(
        path, max_bytes=max_bytes, read_timeout=read_timeout, memory_mib=memory_mib
    )
    policy, config = policy_of(arch, env_id=env_id, source=scan.path.name)
    return LegacyModel(policy, config, scan, arch, repo_id, revision)


def read_module(module: Any, *, env_id: str) -> LegacyModel:
    """A live ``torch.nn.Module`` as a hubpg policy, by the rules a course checkpoint
    follows (:mod:`hubpg.legacy.rebuild`); nothing is pickled. The result's ``scan`` is
    None and ``module_class`` names the class.

    Args:
        module: the module (Linear layers, or one Sequential, as the course's Policy).
        env_id: the env it plays; its observation and action sizes must match.
    """
    arch = rebuild_module(module)
    name = class_name(module)
    policy, config = policy_of(arch, env_id=env_id, source=name)
    return LegacyModel(policy, config, None, arch, module_class=name)


def policy_of(arch: Architecture, *, env_id: str, source: str) -> tuple[Policy, PolicyConfig]:
    """The hubpg policy (in eval mode) and config of a rebuilt architecture.

    Args:
        arch: what :func:`~hubpg.legacy.rebuild.rebuild` returned.
        env_id: the env it plays; its observation and action sizes must match.
        source: the file (or module) it came from, for messages.
    """
    from hubpg.config import PolicyConfig
    from hubpg.envs import env_dims
    from hubpg.policy import Policy, load_weights_strict

    obs_dim, n_actions = env_dims(env_id)
    if (arch.obs_dim, arch.n_actions) != (obs_dim, n_actions):
        raise LegacyCheckpointError(
            f"{source} takes {arch.obs_dim} observations and gives {arch.n_actions} "
            f"actions, but {env_id} has {obs_dim} and {n_actions}; pass the right --env-id"
        )
    try:
        config = PolicyConfig(
            env_id=env_id,
            obs_dim=obs_dim,
            n_actions=n_actions,
            hidden=arch.hidden,
            activation=arch.activation,
        )
    except ConfigError as exc:
        raise LegacyCheckpointError(
            f"{source} holds a network hubpg cannot rebuild ({exc})"
        ) from exc
    policy = Policy(config)
    tensors = {
        f"net.{2 * i}.{part}": getattr(layer, part)
        for i, layer in enumerate(arch.linears)
        for part in ("weight", "bias")
    }
    load_weights_strict(policy, tensors, source)
    return policy.eval(), config
