"""Write Deep RL course checkpoints the way the course does, for tests/test_legacy.py.

Run as a script (``python tests/course_checkpoints.py OUT_DIR MARKER``) so that its
classes live in ``__main__``, as a notebook's do, and the pickles name the same
globals as shared course models (``__main__.Policy``,
``torch.nn.modules.linear.Linear``). The classes are the course's Unit 4 code
(``/work/shared/design/course-unit4.md``): CartPole's ``Policy`` (fc1, fc2) and
Pixelcopter's 3-layer ``Policy`` (fc1, fc2, fc3), forward relu(, relu), softmax.

Besides the checkpoints it writes, per readable model, ``NAME.expected.safetensors``
(random observations and the original class's action probabilities) and
``NAME.episodes.json`` (the original class played with argmax actions, seeds 0..4),
so the tests compare hubpg's rebuilt policy with the real class. The hostile files
would touch MARKER if anything ran their payload.
"""

from __future__ import annotations

import argparse
import builtins
import json
import os
import sys
from pathlib import Path
from unittest import mock

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import hubpg  # noqa: F401  (registers Pixelcopter-PLE-v0)

CARTPOLE, PIXELCOPTER = "CartPole-v1", "Pixelcopter-PLE-v0"
EPISODES = 5
MAX_T = {CARTPOLE: 500, PIXELCOPTER: 1000}


class CartPolePolicy(nn.Module):
    """The course's CartPole policy (named ``Policy`` in the notebook)."""

    def __init__(self, s_size: int, a_size: int, h_size: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(s_size, h_size)
        self.fc2 = nn.Linear(h_size, a_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.fc1(x))
        x = self.fc2(x)
        return F.softmax(x, dim=1)


class PixelcopterPolicy(nn.Module):
    """The course's Pixelcopter policy (``Policy`` in the hands-on, ``Policy2`` in the seed
    notebook): fc1 -> fc2 (twice as wide) -> fc3."""

    def __init__(self, s_size: int, a_size: int, h_size: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(s_size, h_size)
        self.fc2 = nn.Linear(h_size, h_size * 2)
        self.fc3 = nn.Linear(h_size * 2, a_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return F.softmax(x, dim=1)


class SequentialPolicy(nn.Module):
    """A student's variant: one ``nn.Sequential`` attribute."""

    def __init__(self, s_size: int, a_size: int, h_size: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(s_size, h_size),
            nn.Tanh(),
            nn.Linear(h_size, h_size),
            nn.Tanh(),
            nn.Linear(h_size, a_size),
            nn.Softmax(dim=-1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ConvPolicy(nn.Module):
    """Not an MLP: refused."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 2, 3)
        self.fc1 = nn.Linear(4, 2)


# Every notebook calls its class Policy: the pickles say __main__.Policy.
for _cls in (CartPolePolicy, PixelcopterPolicy, SequentialPolicy, ConvPolicy):
    _cls.__name__ = _cls.__qualname__ = "Policy"


class SystemPayload:
    """A pickle that calls os.system when fully unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


class ExecPayload:
    """Hidden in one attribute of a real-looking module: builtins.exec when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (builtins.exec, (f"open({str(self.marker)!r}, 'w').close()",))


def steer(model: nn.Module, signal: list[float]) -> nn.Module:
    """Small random weights plus one path that plays: hidden unit 0 is relu(signal . obs),
    unit 1 relu(-signal . obs), action 0's logit follows unit 1 and action 1's unit 0
    (CartPole: push towards the pole's lean; Pixelcopter: climb near the floor)."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for layer in linears:
            layer.weight.mul_(0.05)
            layer.bias.mul_(0.05)
        direction = torch.tensor(signal)
        linears[0].weight[0] += direction
        linears[0].weight[1] -= direction
        for layer in linears[1:-1]:
            layer.weight[0, 0] += 1.0
            layer.weight[1, 1] += 1.0
        linears[-1].weight[0, 1] += 1.0
        linears[-1].weight[1, 0] += 1.0
    return model


def save(model: object, path: Path, **kwargs: object) -> None:
    """``torch.save`` with ``__main__.Policy`` bound to the model's class, as in a notebook."""
    if isinstance(model, nn.Module) and type(model).__name__ == "Policy":
        globals()["Policy"] = type(model)
    torch.save(model, path, **kwargs)


def probs_of(model: nn.Module, obs: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(obs).float()).numpy()


def play(model: nn.Module, env_id: str) -> list[float]:
    """The original class, argmax actions, episode k reset with seed k."""
    env = gym.make(env_id)
    returns = []
    for seed in range(EPISODES):
        obs, _ = env.reset(seed=seed)
        total = 0.0
        for _ in range(MAX_T[env_id]):
            action = int(probs_of(model, np.asarray(obs, dtype=np.float32)[None]).argmax())
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            if terminated or truncated:
                break
        returns.append(total)
    env.close()
    return returns


def write_expected(out: Path, name: str, model: nn.Module, env_id: str, obs_dim: int) -> None:
    from safetensors.numpy import save_file

    rng = np.random.default_rng(7)
    obs = (rng.standard_normal((64, obs_dim)) * (30.0 if env_id == PIXELCOPTER else 1.0)).astype(
        np.float32
    )
    save_file(
        {"obs": obs, "probs": probs_of(model, obs).astype(np.float32)},
        str(out / f"{name}.expected.safetensors"),
    )
    (out / f"{name}.episodes.json").write_text(
        json.dumps({"env_id": env_id, "returns": play(model, env_id), "max_t": MAX_T[env_id]})
    )


def course_repo(out: Path, model: nn.Module, env_id: str, h_size: int, mean: float) -> Path:
    """The folder the course's push_to_hub uploads: model.pt, hyperparameters.json,
    results.json and a card from huggingface_hub's metadata_eval_result + metadata_save."""
    from huggingface_hub.repocard import metadata_eval_result, metadata_save

    repo = out / f"repo-{env_id}"
    repo.mkdir()
    save(model, repo / "model.pt")
    hyper = {
        "h_size": h_size,
        "n_training_episodes": 1000,
        "n_evaluation_episodes": 10,
        "max_t": 1000,
        "gamma": 1.0,
        "lr": 1e-2,
        "env_id": env_id,
        "state_space": model.fc1.in_features,
        "action_space": 2,
    }
    (repo / "hyperparameters.json").write_text(json.dumps(hyper))
    (repo / "results.json").write_text(
        json.dumps(
            {
                "env_id": env_id,
                "mean_reward": mean,
                "n_evaluation_episodes": 10,
                "eval_datetime": "2023-01-01T00:00:00",
            }
        )
    )
    metadata = {
        "tags": [env_id, "reinforce", "reinforcement-learning", "custom-implementation"]
        + ["deep-rl-class"]
    }
    metadata |= metadata_eval_result(
        model_pretty_name=f"Reinforce-{env_id}",
        task_pretty_name="reinforcement-learning",
        task_id="reinforcement-learning",
        metrics_pretty_name="mean_reward",
        metrics_id="mean_reward",
        metrics_value=f"{mean:.2f} +/- 0.00",
        dataset_pretty_name=env_id,
        dataset_id=env_id,
    )
    (repo / "README.md").write_text(f"# **Reinforce** Agent playing **{env_id}**\n")
    metadata_save(repo / "README.md", metadata)
    return repo


# --------------------------------------------------------------------------- crafted pickles
# What an attacker writes by hand: pickles torch's weights-only unpickler accepts
# opcode by opcode, which torch.save never writes (issue 28's reproductions).

PROTO, STOP, MARK = b"\x80\x02", b".", b"("


def op_global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def op_str(text: str) -> bytes:
    data = text.encode()
    return b"X" + len(data).to_bytes(4, "little") + data


def op_int(value: int) -> bytes:
    return b"J" + value.to_bytes(4, "little", signed=True)


def zip_checkpoint(path: Path, pickled: bytes, records: dict[str, bytes] | None = None) -> None:
    """A torch zip archive around a hand-written ``data.pkl`` (torch.load reads it)."""
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickled)
        archive.writestr("archive/byteorder", "little")
        for key, data in (records or {}).items():
            archive.writestr(f"archive/data/{key}", data)
        archive.writestr("archive/version", "3\n")


def pre16_checkpoint(path: Path, pickled: bytes, keys: list[str], raw: bytes = b"") -> None:
    """A pre-1.6 file: magic number, protocol, sys info, the object, storage keys, raw data."""
    import pickle

    sys_info = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"long": 4}}
    head = b"".join(pickle.dumps(v, protocol=2) for v in (0x1950A86A20F9469CFC6C, 1001, sys_info))
    path.write_bytes(head + pickled + pickle.dumps(keys, protocol=2) + raw)


def state_dict_of(calls: dict[str, bytes]) -> bytes:
    """A state dict pickle whose values are the given opcode sequences."""
    items = b"".join(op_str(key) + value for key, value in calls.items())
    return PROTO + b"}" + MARK + items + b"u" + STOP


def tensor_call(*sizes: int) -> bytes:
    """``torch.Tensor(*sizes)``: uninitialised memory, no storage record behind it."""
    return op_global("torch", "Tensor") + MARK + b"".join(op_int(n) for n in sizes) + b"tR"


def storage_tensor(key: str, numel: int, shape: tuple[int, ...], *, pre16: bool = False) -> bytes:
    """A float tensor rebuilt from storage record ``key`` claiming ``numel`` elements."""
    record = MARK + op_str("storage") + op_global("torch", "FloatStorage") + op_str(key)
    record += op_str("cpu") + op_int(numel) + (b"N" if pre16 else b"") + b"tQ"
    dims = MARK + b"".join(op_int(n) for n in shape) + b"t"
    strides = MARK + b"".join(op_int(n) for n in _strides(shape)) + b"t"
    hooks = op_global("collections", "OrderedDict") + b")R"
    args = MARK + record + op_int(0) + dims + strides + b"\x89" + hooks + b"t"
    return op_global("torch._utils", "_rebuild_tensor_v2") + args + b"R"


def _strides(shape: tuple[int, ...]) -> list[int]:
    strides, step = [], 1
    for n in reversed(shape):
        strides.insert(0, step)
        step *= n
    return strides


def module_pickle(module: str, name: str, *, args: bytes = b")", state: bytes = b"}") -> bytes:
    """A module class created (NEWOBJ with ``args``) and given ``state`` (BUILD)."""
    return PROTO + op_global(module, name) + args + b"\x81" + state + b"b" + STOP


def write_crafted(out: Path) -> None:
    """Hand-written pickles, each refused before anything is built (issue 28)."""
    # a dict key that is a 60-level tuple DAG: hash() costs 2**60
    dag = PROTO + b"}" + b"Nq\x00" + b"h\x00\x86q\x00" * 60 + b"K\x01s" + STOP
    zip_checkpoint(out / "dag_key.pt", dag)
    # bytearray(1_500_000_000): 1.5 GB from an 800-byte file
    huge = PROTO + op_global("builtins", "bytearray") + op_int(1_500_000_000) + b"\x85R" + STOP
    zip_checkpoint(out / "bytearray.pt", huge)
    # torch.Tensor(60_000_000, 4) in a state dict: 960 MB of uninitialised memory
    alloc = state_dict_of({"fc1.weight": tensor_call(60_000_000, 4)})
    zip_checkpoint(out / "tensor_alloc.pt", alloc)
    pre16_checkpoint(out / "tensor_alloc_old.pt", alloc[:-1] + STOP, [])
    # a storage record claiming 500M floats, the file holding 16 bytes (both formats)
    lying = state_dict_of({"fc1.weight": storage_tensor("0", 500_000_000, (16, 4))})
    zip_checkpoint(out / "storage_lie.pt", lying, {"0": bytes(16)})
    lying_old = state_dict_of({"fc1.weight": storage_tensor("0", 500_000_000, (16, 4), pre16=True)})
    pre16_checkpoint(out / "storage_lie_old.pt", lying_old, ["0"], bytes(8) + bytes(16))
    # torch.Tensor(16, 4) etc.: a CartPole state dict of uninitialised memory
    uninit = state_dict_of(
        {
            "fc1.weight": tensor_call(16, 4),
            "fc1.bias": tensor_call(16),
            "fc2.weight": tensor_call(2, 16),
            "fc2.bias": tensor_call(2),
        }
    )
    zip_checkpoint(out / "uninit.pt", uninit)
    # SETITEM on a list: torch's message is its boilerplate
    zip_checkpoint(out / "setitem_list.pt", PROTO + b"]K\x01K\x02s" + STOP)
    # a module class called with arguments, and one named like the standard library
    called = module_pickle("__main__", "Policy", args=op_int(4) + b"\x85")
    zip_checkpoint(out / "called_class.pt", called)
    state = b"}" + MARK + op_str("_modules") + b"}" + op_str("_parameters") + b"}u"
    zip_checkpoint(out / "stdlib_class.pt", module_pickle("subprocess", "Popen", state=state))
    # a student's class used as a value, or given a state that is no module's
    zip_checkpoint(out / "class_value.pt", PROTO + op_global("lib.reinforce", "Policy") + STOP)
    not_module = module_pickle("lib.reinforce", "Policy", state=b"}" + op_str("x") + b"K\x01s")
    zip_checkpoint(out / "not_a_module_state.pt", not_module)
    stateless = PROTO + op_global("lib.reinforce", "Policy") + b")\x81" + STOP
    zip_checkpoint(out / "stateless_module.pt", stateless)


# --------------------------------------------------------------------------- students' modules
# Students' own versions of the notebook: the Policy class imported from a module of
# their own (so the pickle names lib.reinforce.Policy, policy.Policy, mypkg.nets.Policy),
# Dropout between layers, activation modules as attributes, a torch.device attribute.

STUDENT_MODULES = {
    "lib/reinforce.py": """
import torch
import torch.nn.functional as F
from torch import nn


class Policy(nn.Module):
    def __init__(self, s_size, a_size, h_size):
        super().__init__()
        self.device = torch.device("cuda:0")  # the notebook's device, saved with the module
        self.fc1 = nn.Linear(s_size, h_size)
        self.fc2 = nn.Linear(h_size, a_size)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        return F.softmax(self.fc2(x), dim=1)
""",
    "policy.py": """
import torch.nn.functional as F
from torch import nn


class Policy(nn.Module):
    def __init__(self, s_size, a_size, h_size, dropout=0.2):
        super().__init__()
        self.fc1 = nn.Linear(s_size, h_size)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(h_size, h_size * 2)
        self.fc3 = nn.Linear(h_size * 2, a_size)
        self.relu = nn.ReLU()
        self.sizes = [s_size, h_size, a_size]
        self.gamma = 0.99

    def forward(self, x):
        x = self.dropout(self.relu(self.fc1(x)))
        x = self.dropout(self.relu(self.fc2(x)))
        return F.softmax(self.fc3(x), dim=1)


class TwoActivations(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.act1 = nn.Tanh()
        self.fc2 = nn.Linear(8, 2)
        self.act2 = nn.ReLU()


class Normed(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.norm = nn.LayerNorm(8)
        self.fc2 = nn.Linear(8, 2)
""",
    "mypkg/__init__.py": "",
    "mypkg/nets.py": """
from torch import nn


class Body(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 8)


class Policy(nn.Module):
    def __init__(self, s_size, a_size, h_size):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(s_size, h_size),
            nn.Tanh(),
            nn.Dropout(0.1),
            nn.Linear(h_size, a_size),
            nn.Softmax(dim=-1),
        )
        self.h_size = h_size

    def forward(self, x):
        return self.layers(x)


class Nested(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = Body()
        self.head = nn.Linear(8, 2)
""",
}


def write_students(out: Path) -> None:
    """The students' variants, each class imported from its own module file."""
    import importlib

    src = out / "student-src"
    for name, text in STUDENT_MODULES.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text.lstrip())
    sys.path.insert(0, str(src))
    reinforce = importlib.import_module("lib.reinforce")
    policy = importlib.import_module("policy")
    nets = importlib.import_module("mypkg.nets")
    lean = [0.0, 0.0, 1.0, 0.0]
    climb = [0.0, 0.0, -0.2, 0.2, 0.0, 0.0, 0.0]
    readable = {
        "student_lib": (steer(reinforce.Policy(4, 2, 16), lean), CARTPOLE),
        "student_dropout": (steer(policy.Policy(7, 2, 32), climb), PIXELCOPTER),
        "student_pkg": (steer(nets.Policy(4, 2, 16), lean), CARTPOLE),
    }
    for name, (model, env_id) in readable.items():
        if name == "student_lib":  # saved on Colab's GPU
            with mock.patch.object(torch.serialization, "location_tag", lambda s: "cuda:0"):
                torch.save(model, out / f"{name}.pt")
        else:
            torch.save(model, out / f"{name}.pt")  # in training mode, as after reinforce()
        write_expected(out, name, model.eval(), env_id, model_obs_dim(model))
    # a state dict saved as model.pt, beside the course's hyperparameters.json
    folder = out / "student-state-dict"
    folder.mkdir()
    torch.save(readable["student_lib"][0].state_dict(), folder / "model.pt")
    (folder / "hyperparameters.json").write_text(json.dumps({"env_id": CARTPOLE, "h_size": 16}))
    # refused: two activations, a LayerNorm, a class nested in a class
    torch.save(policy.TwoActivations(), out / "student_two_activations.pt")
    torch.save(policy.Normed(), out / "student_layernorm.pt")
    torch.save(nets.Nested(), out / "student_nested.pt")


def write_all(out: Path, marker: Path) -> None:
    torch.manual_seed(0)
    out.mkdir(parents=True, exist_ok=True)
    lean = [0.0, 0.0, 1.0, 0.0]  # the angle alone: balances for a while, then drifts
    cartpole = steer(CartPolePolicy(4, 2, 16), lean)
    # dist to ceiling - dist to floor > 0 near the floor: climb (action 0)
    pixelcopter = steer(PixelcopterPolicy(7, 2, 64), [0.0, 0.0, -0.2, 0.2, 0.0, 0.0, 0.0])
    seq_attr = steer(SequentialPolicy(4, 2, 16), lean)
    sequential = steer(
        nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2), nn.Softmax(dim=1)), lean
    )
    readable = {  # name -> (model, what is saved, env, save options)
        "cartpole": (cartpole, cartpole, CARTPOLE, {}),
        "pixelcopter": (pixelcopter, pixelcopter, PIXELCOPTER, {}),
        "sequential": (sequential, sequential, CARTPOLE, {}),
        "seq_attr": (seq_attr, seq_attr, CARTPOLE, {}),
        "state_dict": (pixelcopter, pixelcopter.state_dict(), PIXELCOPTER, {}),
        "old_state_dict": (
            cartpole,
            cartpole.state_dict(),
            CARTPOLE,
            {"_use_new_zipfile_serialization": False},
        ),
    }
    for name, (model, saved, env_id, options) in readable.items():
        save(saved, out / f"{name}.pt", **options)
        write_expected(out, name, model, env_id, model_obs_dim(model))
    with mock.patch.object(torch.serialization, "location_tag", lambda storage: "cuda:0"):
        save(cartpole, out / "cuda.pt")  # as Colab with a GPU writes it
    write_expected(out, "cuda", cartpole, CARTPOLE, 4)
    save(pixelcopter.state_dict(), out / "Pixelcopter.pth")  # the seed notebook's file

    # refused
    save(cartpole, out / "old_module.pt", _use_new_zipfile_serialization=False)
    save(SystemPayload(marker), out / "evil_system.pt")
    looks_fine = CartPolePolicy(4, 2, 16)
    looks_fine.notes = ExecPayload(marker)  # type: ignore[assignment]
    save(looks_fine, out / "evil_attribute.pt")
    unknown = CartPolePolicy(4, 2, 16)
    unknown.args = argparse.Namespace(h_size=16)  # type: ignore[assignment]
    save(unknown, out / "unknown_class.pt")
    save(ConvPolicy(), out / "conv.pt")
    save({"fc1.weight": torch.zeros(1).expand(2**15, 2**15)}, out / "huge_view.pt")
    save({"fc1.weight": torch.zeros(16, 4, dtype=torch.int64)}, out / "int_weights.pt")
    torch.jit.save(torch.jit.script(nn.Linear(4, 2)), out / "torchscript.pt")
    loop = nn.Sequential(nn.Linear(4, 2))
    loop.add_module("again", loop)  # a module that contains itself
    save(loop, out / "cyclic.pt")
    wide = nn.Sequential(*[nn.Linear(4, 4)] * 64)  # one module 64 times, nested 8 deep:
    for _ in range(7):  # 64**8 layers if a reader followed every reference
        wide = nn.Sequential(*[wide] * 64)
    save(wide, out / "fan_out.pt")
    save(nn.Sequential(nn.Linear(4, 16), nn.LeakyReLU(), nn.Linear(16, 2)), out / "leaky.pt")

    write_crafted(out)
    write_students(out)

    course_repo(out, cartpole, CARTPOLE, 16, 500.0)


def model_obs_dim(model: nn.Module) -> int:
    return next(m for m in model.modules() if isinstance(m, nn.Linear)).in_features


def main(argv: list[str]) -> None:
    out, marker = Path(argv[0]), Path(argv[1])
    write_all(out, marker)


if __name__ == "__main__":
    main(sys.argv[1:])
