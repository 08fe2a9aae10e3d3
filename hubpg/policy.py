"""The MLP policy, built only from its :class:`~hubpg.config.PolicyConfig`: a softmax
over discrete actions, or a diagonal Gaussian over a box of continuous actions (the
MLP gives the mean, a learned state-independent ``log_std`` the spread).

Saved as ``model.safetensors`` (tensors only) + ``config.json`` (architecture),
like huggingface_hub's ``hub_mixin``; loading is strict and never unpickles.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hubpg.config import PolicyConfig
from hubpg.errors import ConfigError, MissingFileError, WeightsError
from hubpg.observations import ObservationHistory
from hubpg.runfolder import CONFIG_NAME, WEIGHTS_NAME, atomic_path

__all__ = ["CONFIG_NAME", "WEIGHTS_NAME", "Policy", "sample_categorical", "small_model_threads"]

#: The name of the box policy's log standard deviation in ``model.safetensors``.
LOG_STD_NAME = "log_std"
_LOG_2PI = float(np.log(2.0 * np.pi))

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
}


class Policy(nn.Module):
    """A policy ``stacked obs -> MLP -> logits`` (discrete actions, softmax) or
    ``-> mean`` (box actions: a diagonal Gaussian with the learned, state-independent
    ``log_std``, clamped to the config's range; samples are clipped to the action
    bounds at the env, and the log-probability is the unclipped sample's).

    The network's input is the observation history of :mod:`hubpg.observations`
    (``config.frame_stack`` raw observations side by side); :meth:`act` keeps that
    history itself for callers that pass one observation (or one batch) per step."""

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__()
        self.config = config
        self.net = mlp(config.input_dim, config.hidden, config.n_actions, config.activation)
        if config.is_box:
            self.log_std = nn.Parameter(torch.zeros(config.n_actions))
            self._low = np.asarray(config.action_low, dtype=np.float32)
            self._high = np.asarray(config.action_high, dtype=np.float32)
        frames = config.frame_stack
        scale = (config.obs_scale or [1.0] * config.obs_dim) * frames
        shift = (config.obs_shift or [0.0] * config.obs_dim) * frames
        for name, values in (("obs_scale", scale), ("obs_shift", shift)):
            self.register_buffer(name, torch.tensor(values, dtype=torch.float32), persistent=False)
        self._history: ObservationHistory | None = None
        self._numpy: NumpyForward | None = None

    def preprocess(self, obs: torch.Tensor) -> torch.Tensor:
        """Scale (and clip) stacked raw observations as the config says."""
        obs = (obs - self.obs_shift) * self.obs_scale
        if self.config.obs_clip is not None:
            obs = obs.clamp(-self.config.obs_clip, self.config.obs_clip)
        return obs

    def set_obs_transform(self, shift: list[float], scale: list[float]) -> None:
        """Replace the input transform's shift and scale (one value per observation), in
        place (the numpy forward pass sees them) and in the config (``config.json``).

        Args:
            shift: the new ``obs_shift``.
            scale: the new ``obs_scale``.
        """
        frames = self.config.frame_stack
        with torch.no_grad():
            self.obs_shift.copy_(torch.tensor(list(shift) * frames, dtype=torch.float32))
            self.obs_scale.copy_(torch.tensor(list(scale) * frames, dtype=torch.float32))
        self.config.obs_shift, self.config.obs_scale = list(shift), list(scale)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Action logits (discrete) or action means (box) for a batch of stacked raw
        observations (``[..., input_dim]``)."""
        return self.net(self.preprocess(obs))

    def log_probs(self, obs: torch.Tensor) -> torch.Tensor:
        """Log-probabilities of every action (discrete policies)."""
        return torch.log_softmax(self.forward(obs), dim=-1)

    def clamped_log_std(self) -> torch.Tensor:
        """The box policy's log standard deviation, clamped to the config's range."""
        c = self.config
        return self.log_std.clamp(c.log_std_min, c.log_std_max)

    def log_prob_entropy(
        self, obs: torch.Tensor, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-step log-probability of ``actions`` (the sampled, unclipped actions of a
        box policy) and the policy's entropy at each step, with grad.

        Args:
            obs: stacked raw observations, ``[N, input_dim]``.
            actions: ``[N]`` action indices (discrete) or ``[N, n_actions]`` samples (box).
        """
        if not self.config.is_box:
            log_probs_all = self.log_probs(obs)
            log_probs = log_probs_all.gather(1, actions[:, None]).squeeze(1)
            entropy = -(log_probs_all.exp() * log_probs_all).sum(dim=1)
            return log_probs, entropy
        mean = self.forward(obs)
        log_std = self.clamped_log_std()
        z = (actions - mean) * torch.exp(-log_std)
        log_probs = (-0.5 * z.pow(2) - log_std - 0.5 * _LOG_2PI).sum(dim=-1)
        entropy = (log_std + 0.5 * (1.0 + _LOG_2PI)).sum().expand(mean.shape[0])
        return log_probs, entropy

    def choose(
        self,
        out: np.ndarray,
        rng: np.random.Generator,
        deterministic: bool = False,
        uniforms: np.ndarray | None = None,
    ) -> np.ndarray:
        """The actions for a batch, from the numpy forward pass's output ``out``: sampled
        (or the most likely / the mean if ``deterministic``); a box policy's samples are
        not clipped here (:meth:`to_env` does that).

        Args:
            out: probabilities (discrete) or means (box), ``[N, n_actions]``.
            rng: the generator of the samples.
            deterministic: the most likely action (discrete) or the mean (box).
            uniforms: an optional float64 buffer of ``N`` uniforms (discrete).
        """
        if not self.config.is_box:
            if deterministic:
                return out.argmax(axis=-1)
            return sample_categorical(out, rng, out=uniforms)
        if deterministic:
            return out.copy()
        std = np.exp(self.clamped_log_std().detach().cpu().numpy()).astype(np.float32)
        return out + std * rng.standard_normal(out.shape, dtype=np.float32)

    def to_env(self, actions: np.ndarray) -> np.ndarray:
        """What the env is given for ``actions`` from :meth:`choose`: the actions
        themselves (discrete), or clipped to the action bounds (box).

        Args:
            actions: a batch of actions.
        """
        if not self.config.is_box:
            return actions
        return np.clip(actions, self._low, self._high)

    def new_history(self, num_envs: int) -> ObservationHistory:
        """An empty observation history for ``num_envs`` episodes, as this policy sees them.

        Args:
            num_envs: episodes played side by side.
        """
        c = self.config
        return ObservationHistory(c.frame_stack, c.frame_stride, num_envs, c.obs_dim)

    def reset(self) -> None:
        """Forget the history :meth:`act` keeps: its next call starts new episodes."""
        self._history = None

    def probs_numpy(self, stacked: np.ndarray) -> np.ndarray:
        """Action probabilities for stacked numpy inputs (``[N, input_dim]``), computed
        by :class:`NumpyForward` with the current weights (no copy of the weights).

        Args:
            stacked: policy inputs from an :class:`ObservationHistory`.
        """
        stacked = np.asarray(stacked, dtype=np.float32)
        return self.numpy_forward()(stacked[None] if stacked.ndim == 1 else stacked).copy()

    def numpy_forward(self) -> NumpyForward:
        """The numpy forward pass of this policy (its result buffer is reused by the next
        call: copy it to keep it)."""
        if self._numpy is None:
            self._numpy = NumpyForward(self)
        return self._numpy

    def act(
        self, obs: np.ndarray, rng: np.random.Generator | None = None, deterministic: bool = False
    ) -> np.ndarray | int:
        """Choose actions for the next step of one episode (``obs`` of shape ``[obs_dim]``,
        returns an ``int``) or of a batch of episodes (``[N, obs_dim]``, returns an int
        array). Samples from the policy unless ``deterministic``.

        With ``frame_stack > 1`` the policy remembers the previous observations: call
        :meth:`reset` before each new episode (a first call, or a new batch size,
        starts fresh).

        Args:
            obs: the raw observation(s) of this step.
            rng: generator for sampling (a fresh one if ``None``).
            deterministic: take the most likely action instead of sampling.
        """
        obs = np.asarray(obs, dtype=np.float32)
        single = obs.ndim == 1
        batch = obs[None] if single else obs
        history = self._history
        if history is None or history.num_envs != batch.shape[0]:
            history = self._history = self.new_history(batch.shape[0])
            stacked = history.reset(batch)
        else:
            stacked = history.push(batch)
        out = self.numpy_forward()(stacked)
        actions = self.to_env(self.choose(out, rng or np.random.default_rng(), deterministic))
        if self.config.is_box:
            return actions[0] if single else actions
        return int(actions[0]) if single else actions

    def _apply(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        self._numpy = None  # .to(), .double(), ... replace the parameters
        return super()._apply(fn, *args, **kwargs)

    def load_state_dict(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self._numpy = None
        return super().load_state_dict(*args, **kwargs)

    def save(self, directory: Path) -> None:
        """Write ``model.safetensors`` and ``config.json`` into ``directory`` (atomically each)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_weights(self.state_dict(), directory / WEIGHTS_NAME)
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
    def from_files(
        cls,
        config: PolicyConfig,
        weights_path: Path,
        device: str = "cpu",
        *,
        source: str | None = None,
    ) -> Policy:
        """Build from ``config`` and load the safetensors file at ``weights_path`` strictly.

        The file's header (names, shapes) is checked against ``config`` before the
        network is built, so a config asking for a huge network beside a small
        weights file is refused without allocating it.

        Args:
            config: the architecture.
            weights_path: the ``model.safetensors`` file.
            device: the torch device.
            source: how messages name the file (default: its path), e.g. the repo's
                ``NAMESPACE/NAME/model.safetensors`` for a downloaded one.
        """
        source = source or str(weights_path)
        check_weights_header(config, weights_path, source=source)
        policy = cls(config)
        load_weights_strict(policy, read_weights(weights_path, source=source), source)
        return policy.to(device).eval()


def mlp(input_dim: int, hidden: Sequence[int], output_dim: int, activation: str) -> nn.Sequential:
    """Linear layers ``input_dim -> *hidden -> output_dim``, ``activation`` between them.

    Args:
        input_dim: the input's size.
        hidden: the hidden layers' widths.
        output_dim: the output's size.
        activation: a name of :data:`_ACTIVATIONS` (``relu``, ``tanh``, ...).
    """
    layers: list[nn.Module] = []
    width = input_dim
    for size in hidden:
        layers += [nn.Linear(width, size), _ACTIVATIONS[activation]()]
        width = size
    layers.append(nn.Linear(width, output_dim))
    return nn.Sequential(*layers)


def save_weights(tensors: dict[str, torch.Tensor], path: Path) -> None:
    """Write ``tensors`` as a safetensors file at ``path`` (atomically).

    Args:
        tensors: name -> tensor (copied to CPU, contiguous).
        path: the file to write.
    """
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    data = _canonical_header(save(tensors, metadata={"format": "pt", "library": "hubpg"}))
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def _canonical_header(data: bytes) -> bytes:
    """``data`` with its JSON header's keys sorted: safetensors writes the metadata map
    in a random order per call, which would make equal weights give unequal files."""
    import json

    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + length])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    if len(text) > length:  # never: the same keys and values, compact as safetensors writes
        return data
    text += b" " * (length - len(text))
    return data[:8] + text + data[8 + length :]


def expected_shapes(config: PolicyConfig) -> dict[str, tuple[int, ...]]:
    """The tensor names and shapes of :class:`Policy` for ``config`` (without building it).

    Args:
        config: the architecture.
    """
    shapes: dict[str, tuple[int, ...]] = {}
    width = config.input_dim  # obs_dim times frame_stack
    sizes = [*config.hidden, config.n_actions]
    for i, size in enumerate(sizes):
        shapes[f"net.{2 * i}.weight"] = (size, width)
        shapes[f"net.{2 * i}.bias"] = (size,)
        width = size
    if config.is_box:
        shapes[LOG_STD_NAME] = (config.n_actions,)
    return shapes


def check_weights_header(config: PolicyConfig, path: Path, *, source: str | None = None) -> None:
    """Raise :class:`WeightsError` unless the safetensors header at ``path`` names exactly
    the tensors ``config`` needs, with their shapes (only the header is read).

    Args:
        config: the architecture.
        path: the ``model.safetensors`` file.
        source: how messages name the file (default: its path).
    """
    from safetensors import safe_open

    path = Path(path)
    shown = source or path
    with _safetensors_errors(path, source), safe_open(str(path), framework="pt") as handle:
        found = {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}  # noqa: SIM118
    want = expected_shapes(config)
    if set(found) != set(want):
        missing, extra = sorted(set(want) - set(found)), sorted(set(found) - set(want))
        raise WeightsError(
            f"{shown} does not match its config.json (missing {', '.join(missing) or 'none'}; "
            f"unexpected {', '.join(extra[:10]) or 'none'}); the weights and config come from "
            "different models"
        )
    for key, shape in want.items():
        if found[key] != shape:
            raise WeightsError(
                f"{shown} does not match its config.json: {key} has shape {found[key]}, "
                f"the config needs {shape}; nothing was built"
            )


def read_weights(path: Path, *, source: str | None = None) -> dict[str, torch.Tensor]:
    """Read a safetensors file, with a clear error when missing or corrupt.

    Args:
        path: the file.
        source: how messages name it (default: its path).
    """
    from safetensors.torch import load_file

    with _safetensors_errors(path, source):
        return load_file(str(path))


@contextmanager
def _safetensors_errors(path: Path, source: str | None) -> Iterator[None]:
    """Refuse a missing file at ``path``, and make reading errors a :class:`WeightsError`
    naming ``source`` (default: the path)."""
    from safetensors import SafetensorError

    if not Path(path).is_file():
        raise MissingFileError(f"{Path(path)} not found")
    try:
        yield
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise WeightsError(
            f"{source or Path(path)} is not a valid safetensors file ({exc}); "
            "re-train or re-download it"
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


class NumpyForward:
    """The policy's acting forward pass on numpy arrays: views of its torch parameters
    (so every optimizer step is seen without copying) and buffers reused from call to
    call. The element-wise steps run in numpy; the matrix products run through torch
    into those same buffers, so they use torch's thread setting (one thread while
    training, :func:`small_model_threads`): numpy's BLAS would start threads of its
    own, and two trainings side by side on two cores then run five times slower.

    ReLU and tanh networks run this way; other activations fall back to the module."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        c = policy.config
        linears = [m for m in policy.net if isinstance(m, nn.Linear)]
        self.native = c.activation in ("relu", "tanh") and all(
            p.device.type == "cpu" and p.dtype == torch.float32 for p in policy.parameters()
        )
        if not self.native:
            return
        self.layers = [(m.weight.detach().T, m.bias.detach()) for m in linears]
        self.shift = policy.obs_shift.numpy()
        self.scale = policy.obs_scale.numpy()
        self.clip = c.obs_clip
        self.tanh = c.activation == "tanh"
        self.box = c.is_box
        self._rows = -1
        self._buffers: list[np.ndarray] = []
        self._tensors: list[torch.Tensor] = []

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if not self.native:
            with torch.inference_mode():
                device = next(self.policy.parameters()).device
                logits = self.policy(torch.from_numpy(x).to(device))
                if self.policy.config.is_box:
                    return logits.float().cpu().numpy()
                return torch.softmax(logits.float(), dim=-1).cpu().numpy()
        if x.shape[0] != self._rows:
            widths = [x.shape[1]] + [b.shape[0] for _, b in self.layers]
            self._buffers = [np.empty((x.shape[0], w), dtype=np.float32) for w in widths]
            self._tensors = [torch.from_numpy(b) for b in self._buffers]
            self._rows = x.shape[0]
        bufs, tensors = self._buffers, self._tensors
        h = bufs[0]
        np.subtract(x, self.shift, out=h)
        h *= self.scale
        if self.clip is not None:
            np.clip(h, -self.clip, self.clip, out=h)
        last = len(self.layers) - 1
        with torch.no_grad():
            for i, (w, b) in enumerate(self.layers):
                torch.addmm(b, tensors[i], w, out=tensors[i + 1])
                if i < last:
                    activate_in_place(bufs[i + 1], tanh=self.tanh)
        h = bufs[-1]
        if self.box:  # the Gaussian's means
            return h
        return softmax_rows(h)


def activate_in_place(h: np.ndarray, *, tanh: bool) -> None:
    """A hidden layer's activation on ``h``, in place: tanh, else ReLU. Acting and the
    leaderboard's batched evaluation both call it, so their numbers agree to the bit.

    Args:
        h: float32 pre-activations.
        tanh: tanh instead of ReLU.
    """
    if tanh:
        np.tanh(h, out=h)
    else:
        np.maximum(h, 0.0, out=h)


def softmax_rows(h: np.ndarray) -> np.ndarray:
    """The softmax of each row of logits ``h``, in place (and returned): two actions in
    three array operations, more by max-shifted exponentials. Acting and the leaderboard's
    batched evaluation both call it, so their probabilities agree to the bit.

    Args:
        h: float32 logits, ``[N, A]``.
    """
    if h.shape[1] == 2:  # softmax of two logits: p0 = 1 / (1 + exp(l1 - l0)), p1 = 1 - p0
        p0 = np.subtract(h[:, 1], h[:, 0])  # contiguous: numpy's clip is slow on strides
        np.clip(p0, -80.0, 80.0, out=p0)  # exp stays finite in float32
        np.exp(p0, out=p0)
        p0 += 1.0
        np.reciprocal(p0, out=p0)
        h[:, 0] = p0
        np.subtract(1.0, p0, out=h[:, 1])
        return h
    h -= h.max(axis=1, keepdims=True)
    np.exp(h, out=h)
    h /= h.sum(axis=1, keepdims=True)
    return h


def sample_categorical(
    probs: np.ndarray, rng: np.random.Generator, out: np.ndarray | None = None
) -> np.ndarray:
    """One sample per row of ``probs`` (``[N, A]``), by inverse CDF.

    Args:
        probs: probabilities (rows need not sum to exactly 1).
        rng: the generator.
        out: optional float64 buffer of ``N`` uniforms to reuse.
    """
    if probs.shape[-1] == 2:  # the common case, in three array operations
        u = rng.random(probs.shape[0], out=out)
        return (u * (probs[:, 0] + probs[:, 1]) >= probs[:, 0]).astype(np.int64)
    cdf = np.cumsum(probs, axis=-1)
    u = rng.random(probs.shape[0])[:, None] * cdf[:, -1:]
    return np.minimum((u >= cdf).sum(axis=-1), probs.shape[-1] - 1)


def check_policy_matches_env(
    config: PolicyConfig, obs_dim: int, n_actions: int, action_space: object = None
) -> None:
    """Raise :class:`ConfigError` if the env's spaces don't fit the policy: observation
    size and number of actions (or action dimensions), and, given the env's
    ``action_space``, its kind and a box's bounds.

    Args:
        config: the policy's config.
        obs_dim: the env's observation size.
        n_actions: its number of actions (discrete) or action dimensions (box).
        action_space: the env's Gymnasium action space (None: sizes only).
    """
    if (config.obs_dim, config.n_actions) != (obs_dim, n_actions):
        raise ConfigError(
            f"the policy expects {config.obs_dim} observations and {config.n_actions} actions, "
            f"but {config.env_id} has {obs_dim} and {n_actions}"
        )
    if action_space is None:
        return
    env_box = not hasattr(action_space, "n")
    kind = "box" if env_box else "discrete"
    if config.action_space != kind:
        raise ConfigError(
            f"the policy acts in a {config.action_space} action space, but {config.env_id}'s "
            f"actions are {kind}; the model was made for another env"
        )
    if env_box:
        low = [float(x) for x in np.asarray(action_space.low).reshape(-1)]
        high = [float(x) for x in np.asarray(action_space.high).reshape(-1)]
        if (config.action_low, config.action_high) != (low, high):
            raise ConfigError(
                f"the policy's action bounds {config.action_low}..{config.action_high} are not "
                f"{config.env_id}'s {low}..{high}; the model was made for another env"
            )
