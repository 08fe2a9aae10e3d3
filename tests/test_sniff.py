"""hubpg.sniff judges files by parsing them: safetensors whose header length starts
0x80 0x02 are not pickles; real pickles and torch.save archives are."""

from __future__ import annotations

import pickle
import struct

import pytest
import torch

from hubpg.errors import PickleRefusedError
from hubpg.packaging import assert_no_pickle
from hubpg.policy import Policy, PolicyConfig
from hubpg.sniff import is_pickle, is_safetensors


def _policy_with_header_length_640(tmp_path):
    policy = Policy(PolicyConfig("CartPole-v1", 4, 2, hidden=[64, 128, 128]))
    policy.save(tmp_path)
    weights = tmp_path / "model.safetensors"
    data = weights.read_bytes()
    assert struct.unpack("<Q", data[:8])[0] == 640 and data[:2] == b"\x80\x02"
    return weights


def test_safetensors_starting_like_a_pickle_is_not_a_pickle(tmp_path) -> None:
    weights = _policy_with_header_length_640(tmp_path)
    assert is_safetensors(weights)
    assert not is_pickle(weights)
    assert_no_pickle(tmp_path)  # the folder hubpg package would ship


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_binary_pickles_are_pickles_whatever_their_name(tmp_path, protocol) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps({"w": [1.0, 2.0]}, protocol=protocol))
    assert not is_safetensors(path)
    assert is_pickle(path)
    with pytest.raises(PickleRefusedError, match="looks like a pickle"):
        assert_no_pickle(tmp_path)


def test_a_torch_save_archive_is_a_pickle_even_renamed(tmp_path) -> None:
    path = tmp_path / "weights.data"
    torch.save({"w": torch.zeros(3)}, path)
    assert is_pickle(path)


def test_pickle_suffixes_and_plain_files(tmp_path) -> None:
    (tmp_path / "model.pt").write_bytes(b"anything")
    (tmp_path / "card.md").write_text("---\nlibrary_name: hubpg\n---\n")
    (tmp_path / "short").write_bytes(b"\x80")
    assert is_pickle(tmp_path / "model.pt")
    assert not is_pickle(tmp_path / "card.md")
    assert not is_pickle(tmp_path / "short")


@pytest.mark.parametrize(
    "header",
    [b"[1, 2]", b'{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 999]}}', b"{not json"],
)
def test_truncated_or_invalid_safetensors_are_not_safetensors(tmp_path, header) -> None:
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 4)
    assert not is_safetensors(path)


def test_a_header_longer_than_the_file_is_not_safetensors(tmp_path) -> None:
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", 640) + b"{}")
    assert not is_safetensors(path)
    assert is_pickle(path)  # it starts 0x80 0x02 and parses as nothing else


def test_another_librarys_model_is_told_by_its_file_names() -> None:
    from hubpg.errors import ForeignFormatError
    from hubpg.sniff import check_not_foreign, foreign_format

    sb3 = {"ppo-CartPole-v1.zip", "ppo-CartPole-v1/policy.pth", "ppo-CartPole-v1/data"}
    assert foreign_format(sb3 | {"config.json"}) == ("stable-baselines3", "ppo-CartPole-v1.zip")
    assert foreign_format({"a2c.zip", "README.md"}) == ("stable-baselines3", "a2c.zip")
    assert foreign_format({"run/policy.pth", "run/data"}) == ("stable-baselines3", "run/policy.pth")
    assert foreign_format({"dqn.cleanrl_model", "dqn.py"}) == ("CleanRL", "dqn.cleanrl_model")
    assert foreign_format({"model.pt", "hyperparameters.json", "results.json"}) is None
    assert foreign_format({"model.safetensors", "config.json", "data/policy.pth"}) is None
    with pytest.raises(ForeignFormatError, match="bob/x holds a CleanRL model") as info:
        check_not_foreign("bob/x", {"dqn.cleanrl_model"})
    assert info.value.library == "CleanRL" and info.value.exit_code == 2
