"""``agent.pt``: the policy as a TorchScript module, for the Open RL Leaderboard.

The leaderboard calls ``agent(torch.tensor(observations).float())`` for a batch of
actions at every step. The module takes raw observations (``[N, obs_dim]`` or
``[obs_dim]``), applies hubpg's observation transform, and **samples** its actions as
hubpg's evaluation does (clipped to a box's bounds). A policy with ``frame_stack > 1``
needs a history a stateless module cannot keep: no ``agent.pt`` is written for it.
hubpg never loads an ``agent.pt``.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn

from hubpg.config import PolicyConfig
from hubpg.policy import Policy
from hubpg.runfolder import AGENT_NAME, CONFIG_NAME, atomic_path

#: One line for the card and README: what ``agent.pt`` does.
AGENT_SAMPLES = (
    "`agent.pt` (TorchScript, for the Open RL Leaderboard) takes a float batch of raw "
    "observations and returns a batch of sampled actions, the observation scaling inside"
)


def agent_unsupported(config: PolicyConfig) -> str | None:
    """Why no ``agent.pt`` can be written for a policy with ``config``, or None.

    Args:
        config: the policy's config.
    """
    if config.frame_stack > 1:
        return (
            f"no agent.pt: the policy sees the last {config.frame_stack} frames "
            f"({config.frame_stride} steps apart), a history a stateless module called on "
            "one batch of observations cannot keep"
        )
    return None


class _Agent(nn.Module):
    """The scriptable module: ``obs -> (obs - shift) * scale -> clip -> MLP -> sample``."""

    def __init__(self, policy: Policy) -> None:
        super().__init__()
        c = policy.config
        self.net = copy.deepcopy(policy.net).float().cpu().eval()
        for parameter in self.net.parameters():
            parameter.requires_grad_(False)
        self.register_buffer("shift", policy.obs_shift.detach().float().cpu().clone())
        self.register_buffer("scale", policy.obs_scale.detach().float().cpu().clone())
        self.has_clip = c.obs_clip is not None
        self.clip = float(c.obs_clip) if c.obs_clip is not None else 0.0
        self.box = c.is_box
        n = c.n_actions
        if c.is_box:
            std = torch.exp(policy.clamped_log_std().detach().float().cpu())
            low = torch.tensor(c.action_low, dtype=torch.float32)
            high = torch.tensor(c.action_high, dtype=torch.float32)
        else:
            std, low, high = torch.ones(n), torch.zeros(n), torch.zeros(n)
        self.register_buffer("std", std.clone())
        self.register_buffer("low", low)
        self.register_buffer("high", high)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        single = obs.dim() == 1
        x = obs.float()
        if single:
            x = x.unsqueeze(0)
        x = (x - self.shift) * self.scale
        if self.has_clip:
            x = x.clamp(-self.clip, self.clip)
        out = self.net(x)
        if self.box:
            actions = out + self.std * torch.randn_like(out)
            actions = torch.max(torch.min(actions, self.high), self.low)
        else:
            actions = torch.multinomial(torch.softmax(out, dim=-1), 1).squeeze(-1)
        return actions[0] if single else actions


def agent_line(package_dir: Path | str) -> str:
    """The card's one line about ``agent.pt`` for a package folder: what it does, or
    why there is none.

    Args:
        package_dir: the package folder (its ``config.json`` and ``agent.pt``).
    """
    package_dir = Path(package_dir)
    if (package_dir / AGENT_NAME).is_file():
        return AGENT_SAMPLES + "."
    config = PolicyConfig.load(package_dir / CONFIG_NAME)
    return (agent_unsupported(config) or "no agent.pt in this package") + "."


def package_agent(policy: Policy, package_dir: Path | str) -> str | None:
    """Write ``agent.pt`` into a package folder being built; returns the reason when the
    policy cannot be expressed that way (nothing written), else None.

    Args:
        policy: the packaged policy.
        package_dir: the folder being built.
    """
    reason = agent_unsupported(policy.config)
    if reason is None:
        scripted = torch.jit.script(_Agent(policy))
        with atomic_path(Path(package_dir) / AGENT_NAME) as tmp:
            torch.jit.save(scripted, str(tmp))
    return reason
