"""load-and-eval --strict exits 1 when the claim is not supported (or missing); an
unchanged re-push says "nothing changed" instead of huggingface_hub's warning."""

from __future__ import annotations

import json
import shutil

import huggingface_hub.constants
import pytest
from cli_runner import run_cli
from huggingface_hub import HfApi

from hubpg.localhub.testing import running_hub

ALICE = "hf_local_alice"
REPO = "alice/strict-CartPole-v1"
huggingface_hub.constants.HF_HUB_DISABLE_XET = True  # direct HfApi calls to the local Hub


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with running_hub(tmp_path_factory.mktemp("hubdata")) as server:
        yield server


@pytest.fixture(scope="module")
def pushed_run(hub, cartpole_run, tmp_path_factory):
    run = tmp_path_factory.mktemp("strict") / "run"
    shutil.copytree(cartpole_run, run, ignore=shutil.ignore_patterns("hub"))
    push = ["push", str(run), "--repo", REPO, "--endpoint", hub.url, "--token", ALICE]
    proc = run_cli(*push, "--episodes", "10", "--json")
    assert proc.returncode == 0, proc.stderr
    return run, json.loads(proc.stdout)


def _load_and_eval(hub, *extra: str):
    return run_cli(
        "load-and-eval", "--repo", REPO, "--endpoint", hub.url, "--episodes", "10", *extra
    )


def _set_card(hub, run, text: str) -> None:
    HfApi(endpoint=hub.url, token=ALICE).upload_file(
        path_or_fileobj=text.encode(), path_in_repo="README.md", repo_id=REPO
    )


def test_an_unchanged_repush_says_nothing_changed(hub, pushed_run) -> None:
    run, first = pushed_run
    assert first["changed"] is True
    push = ["push", str(run), "--repo", REPO, "--endpoint", hub.url, "--token", ALICE]
    proc = run_cli(*push)
    assert proc.returncode == 0, proc.stderr
    assert "No files have been modified" not in proc.stderr + proc.stdout
    assert "nothing changed" in proc.stderr
    assert f"commit {first['commit_sha']}" in proc.stdout
    again = json.loads(run_cli(*push, "--json").stdout)
    assert again["changed"] is False and again["commit_sha"] == first["commit_sha"]


@pytest.mark.slow
def test_strict_passes_a_supported_claim_and_fails_an_unsupported_one(hub, pushed_run) -> None:
    run, _ = pushed_run
    proc = _load_and_eval(hub, "--strict")
    assert proc.returncode == 0, proc.stderr
    assert "claim supported" in proc.stdout

    card = (run / "hub" / "README.md").read_text()
    assert "500.00 +/- 0.00" in card
    _set_card(hub, run, card.replace("500.00 +/- 0.00", "900.00 +/- 0.00"))
    lenient = _load_and_eval(hub)
    assert lenient.returncode == 0 and "claim NOT SUPPORTED" in lenient.stdout
    strict = _load_and_eval(hub, "--strict")
    assert strict.returncode == 1 and "claim NOT SUPPORTED" in strict.stdout
    assert (
        strict.stderr.strip().splitlines()[-1].startswith("error: the measurement does not support")
    )
    as_json = _load_and_eval(hub, "--strict", "--json")
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["claim_supported"] is False

    _set_card(hub, run, "# no metadata at all\n")
    proc = _load_and_eval(hub, "--strict")
    assert proc.returncode == 1 and "claims no score" in proc.stderr
    assert _load_and_eval(hub).returncode == 0
