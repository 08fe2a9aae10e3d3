"""hubpg.push_to_hub, the course's signature for a module the student trained with their
own code, and hubpg.package(model, ...): the module is converted in memory (never
pickled), checked against its own forward, evaluated, recorded, carded and pushed to the
local Hub; load-and-eval of the pushed repo then plays what the module plays."""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
from pathlib import Path

import gymnasium as gym
import huggingface_hub.constants
import numpy as np
import pytest
import torch
from huggingface_hub import HfApi, hf_hub_download
from torch import nn
from torch.nn import functional as F

import hubpg
from hubpg.envs import make_env
from hubpg.errors import ConfigError, ModuleMismatchError
from hubpg.localhub.testing import running_hub

huggingface_hub.constants.HF_HUB_DISABLE_XET = True
ALICE = "hf_local_alice"
EPISODES = 4


class Policy(nn.Module):
    """The course's CartPole Policy, as the notebook's __main__ defines it."""

    def __init__(self, s_size: int, a_size: int, h_size: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(s_size, h_size)
        self.fc2 = nn.Linear(h_size, a_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.fc1(x))
        return F.softmax(self.fc2(x), dim=1)


Policy.__module__ = "__main__"  # as in the student's notebook

#: A student's own module files (kept outside the notebook), each with Dropout.
STUDENT_FILES = {
    "policy.py": """
        import torch
        from torch import nn
        from torch.nn import functional as F


        class Policy(nn.Module):
            def __init__(self, s_size, a_size, h_size):
                super().__init__()
                self.device = torch.device("cpu")
                self.fc1 = nn.Linear(s_size, h_size)
                self.dropout = nn.Dropout(0.2)
                self.fc2 = nn.Linear(h_size, a_size)

            def forward(self, x):
                x = self.dropout(F.relu(self.fc1(x)))
                return F.softmax(self.fc2(x), dim=1)
    """,
    "lib/__init__.py": "",
    "lib/reinforce.py": """
        from torch import nn


        class Policy(nn.Module):
            def __init__(self, s_size, a_size, h_size):
                super().__init__()
                self.net = nn.Sequential(
                    nn.Linear(s_size, h_size),
                    nn.ReLU(),
                    nn.Dropout(0.1),
                    nn.Linear(h_size, h_size),
                    nn.ReLU(),
                    nn.Linear(h_size, a_size),
                    nn.Softmax(dim=-1),
                )

            def forward(self, x):
                return self.net(x)
    """,
}


def hyperparameters(n_eval: int = EPISODES) -> dict:
    return {
        "h_size": 16,
        "n_training_episodes": 10,
        "n_evaluation_episodes": n_eval,
        "max_t": 1000,
        "gamma": 1.0,
        "lr": 1e-2,
        "env_id": "CartPole-v1",
        "state_space": 4,
        "action_space": np.int64(2),  # env.action_space.n, as the notebook takes it
    }


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with running_hub(tmp_path_factory.mktemp("hubdata")) as server:
        yield server


@pytest.fixture
def student_module(tmp_path, monkeypatch):
    """Import ``module`` from the student's own files written under tmp_path."""
    for name, text in STUDENT_FILES.items():
        path = tmp_path / "student" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    monkeypatch.syspath_prepend(str(tmp_path / "student"))
    loaded = []

    def load(module: str):
        loaded.append(module)
        return importlib.import_module(module)

    yield load
    for module in [*loaded, "lib"]:
        sys.modules.pop(module, None)


def plays_argmax(model: nn.Module, seeds: list[int]) -> list[float]:
    """Episode returns of the student's own forward, argmax actions, on hubpg's envs."""
    returns = []
    model.eval()
    for seed in seeds:
        env = make_env("CartPole-v1")
        obs, _ = env.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            with torch.no_grad():
                probs = model(torch.as_tensor(obs, dtype=torch.float32)[None])
            obs, reward, terminated, truncated, _ = env.step(int(probs.argmax()))
            total += float(reward)
            done = terminated or truncated
        env.close()
        returns.append(total)
    return returns


def check_shared(hub, repo: str, model: nn.Module) -> None:
    api = HfApi(endpoint=hub.url, token=ALICE)
    files = set(api.list_repo_files(repo))
    assert {"model.safetensors", "config.json", "results.json", "README.md"} <= files
    assert "replay.mp4" in files and not files & {"model.pt", "model.pth"}
    assert len(api.list_repo_commits(repo)) == 2  # the repo's creation, then one push
    path = hf_hub_download(repo, "results.json", endpoint=hub.url, token=ALICE)
    results = json.loads(Path(path).read_text())
    assert results["n_evaluation_episodes"] == EPISODES and "std_reward" in results
    verified = hubpg.load_and_eval(
        repo, endpoint=hub.url, token=ALICE, episodes=5, deterministic=True
    )
    assert verified.evaluation.episode_returns == plays_argmax(model, verified.evaluation.seeds)


def test_push_to_hub_shares_a_main_module_as_safetensors(hub, capsys) -> None:
    torch.manual_seed(3)
    model = Policy(4, 2, 16)
    eval_env = gym.make("CartPole-v1")
    pushed = hubpg.push_to_hub(
        "alice/course-main", model, hyperparameters(), eval_env, endpoint=hub.url, token=ALICE
    )
    assert pushed.repo_id == "alice/course-main" and len(pushed.commit_sha) == 40
    said = capsys.readouterr().out
    assert "Pushing repo alice/course-main" in said and pushed.url in said
    assert model.training  # left as it was
    check_shared(hub, "alice/course-main", model)


@pytest.mark.parametrize("module", ["policy", "lib.reinforce"])
def test_push_to_hub_shares_a_module_from_the_students_own_file(
    hub, student_module, module
) -> None:
    torch.manual_seed(4)
    model = student_module(module).Policy(4, 2, 16)
    repo = f"alice/course-{module.replace('.', '-')}"
    hubpg.push_to_hub(
        repo,
        model,
        hyperparameters(),
        gym.make("CartPole-v1"),
        video_fps=20,
        endpoint=hub.url,
        token=ALICE,
        progress=False,
    )
    check_shared(hub, repo, model)
    card = Path(hf_hub_download(repo, "README.md", endpoint=hub.url, token=ALICE)).read_text()
    assert f"{module}.Policy" in card  # where it came from


def test_a_forward_the_layers_do_not_explain_is_refused_and_nothing_is_pushed(hub) -> None:
    class Tanh(Policy):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.softmax(self.fc2(torch.tanh(self.fc1(x))), dim=1)

    torch.manual_seed(5)
    with pytest.raises(ModuleMismatchError, match="largest difference"):
        hubpg.push_to_hub(
            "alice/course-tanh",
            Tanh(4, 2, 16),
            hyperparameters(),
            gym.make("CartPole-v1"),
            endpoint=hub.url,
            token=ALICE,
            progress=False,
        )
    assert not HfApi(endpoint=hub.url, token=ALICE).repo_exists("alice/course-tanh")


def test_package_takes_a_module_one_step_at_a_time(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(6)
    model = Policy(4, 2, 16)
    given = {**hyperparameters(), "not_json": object()}
    pkg = hubpg.package(model, hyperparameters=given, episodes=3, video=False)
    run_dir = tmp_path / "runs" / "CartPole-v1-Policy"
    assert pkg.package_dir.resolve() == run_dir / "hub" and pkg.evaluation.n_episodes == 3
    hyper = json.loads((run_dir / "hyperparameters.json").read_text())
    assert hyper["h_size"] == 16 and hyper["source"].startswith("__main__.Policy")
    assert hyper["action_space"] == 2 and "not_json" not in hyper
    assert hyper["checked_max_difference"] <= 1e-5
    again = hubpg.evaluate(run_dir, episodes=3, deterministic=True)
    assert again.episode_returns == plays_argmax(model, again.seeds)
    with pytest.raises(ConfigError, match="for packaging a torch.nn.Module"):
        hubpg.package(run_dir, env_id="CartPole-v1")
    with pytest.raises(ConfigError, match="which env"):
        hubpg.package(model, out=tmp_path / "x")


def test_the_check_reads_observations_from_the_students_env() -> None:
    from hubpg.live import observations_from

    env = gym.make("CartPole-v1")
    first, again = observations_from(env, 50, seed=1), observations_from(env, 50, seed=1)
    assert first.shape == (50, 4) and np.array_equal(first, again)


def test_push_to_hub_has_the_courses_signature_and_documents_its_options() -> None:
    import inspect

    params = inspect.signature(hubpg.push_to_hub).parameters.values()
    positional = [p for p in params if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    names = [p.name for p in positional]
    assert names == ["repo_id", "model", "hyperparameters", "eval_env", "video_fps"]
    assert positional[-1].default == 30
    doc = inspect.getdoc(hubpg.push_to_hub) or ""
    assert "Example:" in doc and ">>> " in doc
    for p in params:
        assert p.kind is not inspect.Parameter.VAR_KEYWORD
        assert f"{p.name}:" in doc, f"{p.name} undocumented"
