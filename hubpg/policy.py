"""The categorical MLP policy, built only from its :class:`~hubpg.config.PolicyConfig`.

Saved as ``model.safetensors`` (tensors only) + ``config.json`` (architecture),
like huggingface_hub's ``hub_mixin``; loading is strict and never unpickles.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hubpg.config import PolicyConfig
from hubpg.errors import ConfigError, MissingFileError, WeightsError
from hubpg.runfolder import CONFIG_NAME, WEIGHTS_NAME, atomic_path

__all__ = ["CONFIG_NAME", "WEIGHTS_NAME", "Policy", "sample_categorical", "small_model_threads"]

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
}


class Policy(nn.Module):
    """A softmax policy over discrete actions: ``obs -> MLP -> logits``."""

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        width = config.obs_dim
        for size in config.hidden:
            layers += [nn.Linear(width, size), _ACTIVATIONS[config.activation]()]
            width = size
        layers.append(nn.Linear(width, config.n_actions))
        self.net = nn.Sequential(*layers)
        scale = config.obs_scale or [1.0] * config.obs_dim
        shift = config.obs_shift or [0.0] * config.obs_dim
        self.register_buffer(
            "obs_scale", torch.tensor(scale, dtype=torch.float32), persistent=False
        )
        self.register_buffer(
            "obs_shift", torch.tensor(shift, dtype=torch.float32), persistent=False
        )

    def preprocess(self, obs: torch.Tensor) -> torch.Tensor:
        """Scale (and clip) raw observations as the config says."""
        obs = (obs - self.obs_shift) * self.obs_scale
        if self.config.obs_clip is not None:
            obs = obs.clamp(-self.config.obs_clip, self.config.obs_clip)
        return obs

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Action logits for a batch of raw observations (``[..., obs_dim]``)."""
        return self.net(self.preprocess(obs))

    def log_probs(self, obs: torch.Tensor) -> torch.Tensor:
        """Log-probabilities of every action."""
        return torch.log_softmax(self.forward(obs), dim=-1)

    @torch.inference_mode()
    def probs_numpy(self, obs: np.ndarray) -> np.ndarray:
        """Action probabilities for numpy observations (``[obs_dim]`` or ``[N, obs_dim]``)."""
        x = torch.as_tensor(np.asarray(obs, dtype=np.float32))
        return torch.softmax(self.forward(x), dim=-1).numpy()

    def act(
        self,
        obs: np.ndarray,
        rng: np.random.Generator | None = None,
        deterministic: bool = False,
    ) -> np.ndarray | int:
        """Choose actions for one observation (returns an ``int``) or a batch
        (returns an int array). Samples from the policy unless ``deterministic``."""
        obs = np.asarray(obs, dtype=np.float32)
        single = obs.ndim == 1
        probs = self.probs_numpy(obs[None] if single else obs)
        if deterministic:
            actions = probs.argmax(axis=-1)
        else:
            actions = sample_categorical(probs, rng or np.random.default_rng())
        return int(actions[0]) if single else actions

    def save(self, directory: Path) -> None:
        """Write ``model.safetensors`` and ``config.json`` into ``directory`` (atomically each)."""
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        with atomic_path(directory / WEIGHTS_NAME) as tmp:
            save_file(tensors, str(tmp), metadata={"format": "pt", "library": "hubpg"})
        self.config.save(directory / CONFIG_NAME)

    @classmethod
    def load(cls, directory: Path, device: str = "cpu") -> Policy:
        """Rebuild a policy from ``config.json`` and load ``model.safetensors`` strictly."""
        directory = Path(directory)
        config_path = directory / CONFIG_NAME
        if not config_path.is_file():
            raise MissingFileError(f"{config_path} not found; is {directory} a hubpg run folder?")
        config = PolicyConfig.load(config_path)
        return cls.from_files(config, directory / WEIGHTS_NAME, device=device)

    @classmethod
    def from_files(cls, config: PolicyConfig, weights_path: Path, device: str = "cpu") -> Policy:
        """Build from ``config`` and load the safetensors file at ``weights_path`` strictly.

        The file's header (names, shapes) is checked against ``config`` before the
        network is built, so a config asking for a huge network beside a small
        weights file is refused without allocating it.

        Args:
            config: the architecture.
            weights_path: the ``model.safetensors`` file.
            device: the torch device.
        """
        check_weights_header(config, weights_path)
        policy = cls(config)
        load_weights_strict(policy, read_weights(weights_path), str(weights_path))
        return policy.to(device).eval()


def expected_shapes(config: PolicyConfig) -> dict[str, tuple[int, ...]]:
    """The tensor names and shapes of :class:`Policy` for ``config`` (without building it).

    Args:
        config: the architecture.
    """
    shapes: dict[str, tuple[int, ...]] = {}
    width = config.obs_dim
    sizes = [*config.hidden, config.n_actions]
    for i, size in enumerate(sizes):
        shapes[f"net.{2 * i}.weight"] = (size, width)
        shapes[f"net.{2 * i}.bias"] = (size,)
        width = size
    return shapes


def check_weights_header(config: PolicyConfig, path: Path) -> None:
    """Raise :class:`WeightsError` unless the safetensors header at ``path`` names exactly
    the tensors ``config`` needs, with their shapes (only the header is read).

    Args:
        config: the architecture.
        path: the ``model.safetensors`` file.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path} not found")
    try:
        with safe_open(str(path), framework="pt") as handle:
            found = {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise WeightsError(
            f"{path} is not a valid safetensors file ({exc}); re-train or re-download it"
        ) from exc
    want = expected_shapes(config)
    if set(found) != set(want):
        missing, extra = sorted(set(want) - set(found)), sorted(set(found) - set(want))
        raise WeightsError(
            f"{path} does not match its config.json (missing {', '.join(missing) or 'none'}; "
            f"unexpected {', '.join(extra[:10]) or 'none'}); the weights and config come from "
            "different models"
        )
    for key, shape in want.items():
        if found[key] != shape:
            raise WeightsError(
                f"{path} does not match its config.json: {key} has shape {found[key]}, "
                f"the config needs {shape}; nothing was built"
            )


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file, with a clear error when missing or corrupt."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path} not found")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise WeightsError(
            f"{path} is not a valid safetensors file ({exc}); re-train or re-download it"
        ) from exc


def load_weights_strict(policy: Policy, tensors: dict[str, torch.Tensor], source: str) -> None:
    """Copy ``tensors`` into ``policy``; any missing key, extra key, shape or dtype
    mismatch raises :class:`WeightsError` naming it. Non-finite weights are refused too."""
    expected = policy.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if extra:
            parts.append(f"unexpected {', '.join(extra)}")
        raise WeightsError(
            f"{source} does not match its config.json ({'; '.join(parts)}); "
            "the weights and config come from different models"
        )
    for key, want in expected.items():
        got = tensors[key]
        if tuple(got.shape) != tuple(want.shape):
            raise WeightsError(
                f"{source} does not match its config.json: {key} has shape "
                f"{tuple(got.shape)}, the config needs {tuple(want.shape)}"
            )
        if not got.is_floating_point():
            raise WeightsError(f"{source}: {key} has dtype {got.dtype}, expected a float tensor")
        if not torch.isfinite(got).all():
            raise WeightsError(f"{source}: {key} contains NaN or infinite values")
    policy.load_state_dict({k: v.to(expected[k].dtype) for k, v in tensors.items()}, strict=True)


@contextmanager
def small_model_threads() -> Iterator[None]:
    """Run torch on one intra-op thread for the duration (restored afterwards).

    hubpg's networks are tiny: extra threads only add synchronisation, and on a
    busy machine they make training many times slower. ``OMP_NUM_THREADS`` wins."""
    if os.environ.get("OMP_NUM_THREADS"):
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def sample_categorical(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One sample per row of ``probs`` (``[N, A]``), by inverse CDF."""
    if probs.shape[-1] == 2:  # the common case, in three array operations
        return (rng.random(probs.shape[0]) * (probs[:, 0] + probs[:, 1]) >= probs[:, 0]).astype(
            np.int64
        )
    cdf = np.cumsum(probs, axis=-1)
    u = rng.random(probs.shape[0])[:, None] * cdf[:, -1:]
    return np.minimum((u >= cdf).sum(axis=-1), probs.shape[-1] - 1)


def check_policy_matches_env(config: PolicyConfig, obs_dim: int, n_actions: int) -> None:
    """Raise :class:`ConfigError` if the env's spaces don't fit the policy."""
    if (config.obs_dim, config.n_actions) != (obs_dim, n_actions):
        raise ConfigError(
            f"the policy expects {config.obs_dim} observations and {config.n_actions} actions, "
            f"but {config.env_id} has {obs_dim} and {n_actions}"
        )
