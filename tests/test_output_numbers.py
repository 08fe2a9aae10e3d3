"""JSON and CSV output carry no float noise; run and package files get the usual mode."""

from __future__ import annotations

import io
import json
import os
import re
import stat

import pytest
from cli_runner import run_cli

from hubpg.ranking import ROW_KEYS, write_csv
from hubpg.runfolder import clean_float, clean_numbers, write_json

NOISY = 0.9499999999999886


def _float_texts(text: str) -> list[str]:
    found: list[str] = []
    json.loads(text, parse_float=lambda s: found.append(s) or float(s))
    return found


def _significant_digits(number: str) -> int:
    mantissa = re.split("[eE]", number)[0].lstrip("-").replace(".", "").lstrip("0")
    return len(mantissa)


def test_clean_float_drops_noise_and_keeps_values() -> None:
    assert clean_float(NOISY) == 0.95 and clean_float(0.1 + 0.2) == 0.3
    for value in (500.0, 0.125, 3e-3, 1e-12, 123456.789, float("inf")):
        assert clean_float(value) == value
    assert clean_numbers({"a": [NOISY, 1, True, None], "b": (0.1 + 0.2,)}) == {
        "a": [0.95, 1, True, None],
        "b": [0.3],
    }


def test_write_json_writes_no_float_noise(tmp_path) -> None:
    write_json(tmp_path / "r.json", {"mean_reward": NOISY, "returns": [0.1 + 0.2, 9.0]})
    text = (tmp_path / "r.json").read_text()
    assert "0.9499999999999886" not in text and "0.30000000000000004" not in text
    assert json.loads(text) == {"mean_reward": 0.95, "returns": [0.3, 9.0]}


def test_leaderboard_csv_writes_no_float_noise() -> None:
    row = dict.fromkeys(ROW_KEYS)
    row.update({"repo_id": "alice/x", "claimed_mean": NOISY, "claimed_std": 0.1 + 0.2})
    stream = io.StringIO()
    write_csv([row], stream)
    assert "0.95" in stream.getvalue() and "0.3" in stream.getvalue()
    assert "0.9499999999999886" not in stream.getvalue()
    assert "0.30000000000000004" not in stream.getvalue()


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("short") / "run"
    proc = run_cli(
        "train", "CartPole-v1", "--total-steps", "3000", "--num-envs", "8",
        "--target-return", "1e9", "--eval-episodes", "0", "--out", str(out), "-q",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return out


def test_evaluation_json_and_results_json_have_no_float_noise(short_run, tmp_path) -> None:
    saved = tmp_path / "eval.json"
    proc = run_cli(
        "evaluate", str(short_run), "--episodes", "7", "--save-json", str(saved), "--json"
    )
    assert proc.returncode == 0, proc.stderr
    package = run_cli(
        "package", str(short_run), "--out", str(tmp_path / "hub"), "--episodes", "7",
        "--no-video", "--json",
    )  # fmt: skip
    assert package.returncode == 0, package.stderr
    texts = {
        "stdout": proc.stdout,
        "save-json": saved.read_text(),
        "results.json": (tmp_path / "hub" / "results.json").read_text(),
        "package --json": package.stdout,
    }
    for name, text in texts.items():
        floats = _float_texts(text)
        assert floats, name  # a 7-episode mean of a short run is not a whole number
        noisy = [f for f in floats if _significant_digits(f) > 12]
        assert noisy == [], name


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@pytest.mark.skipif(_umask() != 0o022, reason="needs the usual umask 022")
def test_run_and_package_files_are_0644(short_run, tmp_path) -> None:
    proc = run_cli(
        "package", str(short_run), "--out", str(tmp_path / "hub"), "--episodes", "3", "--no-video"
    )
    assert proc.returncode == 0, proc.stderr
    files = [p for p in short_run.iterdir() if p.is_file()]
    files += list((tmp_path / "hub").iterdir())
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in files}
    assert modes["model.safetensors"] == 0o644
    assert {name: oct(m) for name, m in modes.items() if m != 0o644} == {}
