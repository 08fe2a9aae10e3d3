"""Benchmark: the Deep RL course's REINFORCE loop against ``hubpg train`` on CartPole-v1.

For each seed it prints env steps/s, the wall time until a 100-episode evaluation
reaches mean - std >= 475, and the final score; then medians and the ratio.

* course: a faithful copy of the course notebook's algorithm (one episode per
  update, one forward pass per step, its hyperparameters: h_size 16, lr 1e-2,
  gamma 1.0, max_t 1000, 1000 episodes). It is evaluated every ``--course-eval-every``
  episodes (100 episodes, seeds 0..99, sampled actions); evaluation time is not counted.
* hubpg: ``hubpg train CartPole-v1 --seed S`` run as a whole command (imports,
  training, final save and final 100-episode evaluation), timed from outside.

Usage: python scripts/bench_train.py [--seeds 1 2 3 4 5] [--course-seeds 1 2 3] [--skip-course]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical

SOLVED = 475.0


class CoursePolicy(nn.Module):
    """The course's policy: Linear -> ReLU -> Linear -> softmax."""

    def __init__(self, s_size: int, a_size: int, h_size: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(s_size, h_size)
        self.fc2 = nn.Linear(h_size, a_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.fc2(torch.relu(self.fc1(x))), dim=1)

    def act(self, state: np.ndarray) -> tuple[int, torch.Tensor]:
        state_t = torch.from_numpy(state).float().unsqueeze(0)
        probs = self.forward(state_t)
        m = Categorical(probs)
        action = m.sample()
        return action.item(), m.log_prob(action)


def course_evaluate(policy: CoursePolicy, episodes: int = 100) -> tuple[float, float]:
    """100 seeded episodes with sampled actions, as hubpg evaluates."""
    env = gym.make("CartPole-v1")
    returns = []
    with torch.no_grad():
        for k in range(episodes):
            state, _ = env.reset(seed=k)
            total, done = 0.0, False
            while not done:
                action, _ = policy.act(state)
                state, reward, terminated, truncated, _ = env.step(action)
                total += reward
                done = terminated or truncated
            returns.append(total)
    return float(np.mean(returns)), float(np.std(returns))


def run_course(seed: int, eval_every: int) -> dict:
    """The course's training loop (reinforce() in the Unit 4 notebook)."""
    torch.manual_seed(seed)
    env = gym.make("CartPole-v1")
    env.reset(seed=seed)
    policy = CoursePolicy(4, 2, 16)
    optimizer = torch.optim.Adam(policy.parameters(), lr=1e-2)
    gamma, max_t, n_episodes = 1.0, 1000, 1000
    steps, train_time, solved_at = 0, 0.0, None
    mean = std = 0.0
    for i_episode in range(1, n_episodes + 1):
        start = time.perf_counter()
        saved_log_probs, rewards = [], []
        state, _ = env.reset()
        for _ in range(max_t):
            action, log_prob = policy.act(state)
            saved_log_probs.append(log_prob)
            state, reward, terminated, truncated, _ = env.step(action)
            rewards.append(reward)
            if terminated or truncated:
                break
        steps += len(rewards)
        returns: deque[float] = deque(maxlen=max_t)
        for t in range(len(rewards))[::-1]:
            disc_return_t = returns[0] if len(returns) > 0 else 0
            returns.appendleft(gamma * disc_return_t + rewards[t])
        eps = np.finfo(np.float32).eps.item()
        returns_t = torch.tensor(returns)
        returns_t = (returns_t - returns_t.mean()) / (returns_t.std() + eps)
        policy_loss = torch.cat([-lp * r for lp, r in zip(saved_log_probs, returns_t, strict=True)])
        optimizer.zero_grad()
        policy_loss.sum().backward()
        optimizer.step()
        train_time += time.perf_counter() - start
        if i_episode % eval_every == 0 or i_episode == n_episodes:
            mean, std = course_evaluate(policy)
            if solved_at is None and mean - std >= SOLVED:
                solved_at = train_time
    return {
        "seed": seed,
        "steps_per_s": steps / train_time,
        "train_s": train_time,
        "time_to_solve_s": solved_at,
        "final": f"{mean:.2f} +/- {std:.2f}",
        "final_score": mean - std,
    }


def run_hubpg(seed: int) -> dict:
    """``hubpg train CartPole-v1 --seed S`` as a whole command."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        start = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "hubpg.cli",
                "train",
                "CartPole-v1",
                "--seed",
                str(seed),
                "--out",
                str(out),
                "--json",
                "--quiet",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"hubpg train failed: {proc.stderr}")
    report = json.loads(proc.stdout)
    ev = report["evaluation"]
    score = ev["mean_reward"] - ev["std_reward"]
    return {
        "seed": seed,
        "steps_per_s": report["steps_per_second"],
        "train_s": report["train_seconds"],
        "command_s": wall,
        "time_to_solve_s": wall if score >= SOLVED else None,
        "final": f"{ev['mean_reward']:.2f} +/- {ev['std_reward']:.2f}",
        "final_score": score,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--course-seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--course-eval-every", type=int, default=100)
    parser.add_argument("--skip-course", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)

    print("hubpg train CartPole-v1 (whole command: imports + training + save + 100-episode eval)")
    ours = []
    for seed in args.seeds:
        row = run_hubpg(seed)
        ours.append(row)
        print(
            f"  seed {seed}: {row['command_s']:.2f} s command, {row['train_s']:.2f} s training, "
            f"{row['steps_per_s']:,.0f} steps/s, final {row['final']}",
            flush=True,
        )
    solved = sum(r["final_score"] >= 495 for r in ours)
    print(
        f"  median command {statistics.median(r['command_s'] for r in ours):.2f} s, median "
        f"{statistics.median(r['steps_per_s'] for r in ours):,.0f} steps/s, "
        f"{solved}/{len(ours)} seeds at mean - std >= 495"
    )
    if args.skip_course:
        return
    print("course loop (per-step forward, one episode per update, training time only)")
    course = []
    for seed in args.course_seeds:
        row = run_course(seed, args.course_eval_every)
        course.append(row)
        solve = f"{row['time_to_solve_s']:.1f} s" if row["time_to_solve_s"] else "never"
        print(
            f"  seed {seed}: {row['train_s']:.1f} s for 1000 episodes, {row['steps_per_s']:,.0f} "
            f"steps/s, reached mean - std >= {SOLVED:.0f}: {solve}, final {row['final']}",
            flush=True,
        )
    course_sps = statistics.median(r["steps_per_s"] for r in course)
    ours_sps = statistics.median(r["steps_per_s"] for r in ours)
    solve_course = [r["time_to_solve_s"] for r in course if r["time_to_solve_s"]]
    solve_ours = [r["time_to_solve_s"] for r in ours if r["time_to_solve_s"]]
    print(
        f"throughput ratio hubpg/course: {ours_sps / course_sps:,.0f}x "
        f"({ours_sps:,.0f} vs {course_sps:,.0f} steps/s)"
    )
    if solve_course and solve_ours:
        print(
            f"time to mean - std >= {SOLVED:.0f}: hubpg median {statistics.median(solve_ours):.2f} s "
            f"(whole command) vs course median {statistics.median(solve_course):.1f} s "
            f"(training only; {len(solve_course)}/{len(course)} seeds solved): "
            f"{statistics.median(solve_course) / statistics.median(solve_ours):.0f}x"
        )
    else:
        print(f"course seeds that reached {SOLVED:.0f}: {len(solve_course)}/{len(course)}")


if __name__ == "__main__":
    main()
