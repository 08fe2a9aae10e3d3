"""hubpg leaderboard against the local Hub: listing, claims, verification, parallel runs, output."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
import pickle
import re
import shutil
import sys

import huggingface_hub.constants
import pytest
import torch
from cli_runner import run_cli
from huggingface_hub import HfApi, ModelCard

from hubpg.api import push
from hubpg.card import card_metadata
from hubpg.localhub.testing import running_hub
from hubpg.policy import Policy
from hubpg.ranking import (
    NO_CLAIM,
    PICKLE_PROBLEM,
    ROW_KEYS,
    RayMissingError,
    leaderboard,
    verify_batch,
)

ALICE, BOB = "hf_local_alice", "hf_local_bob"
ENV = "CartPole-v1"
REQUIRED = {
    "repo_id",
    "claimed_mean",
    "claimed_std",
    "claimed_score",
    "measured_mean",
    "measured_std",
    "measured_score",
    "claim_supported",
    "problem",
}
GOOD = ["alice/cartpole-good-a", "alice/cartpole-good-b", "bob/cartpole-good-c"]
MID, LOW, INFLATED = "bob/cartpole-weak-mid", "alice/cartpole-weak-low", "alice/cartpole-inflated"
PICKLE, MISMATCHED = "bob/cartpole-course-pickle", "bob/cartpole-mismatched"
MISLABELED, GARBLED, NO_INDEX = "alice/pixelcopter-mislabeled", "bob/cartpole-garbled", "bob/bare"
PRIVATE = "alice/cartpole-private"
SB3, CLEANRL, PPO = "alice/cartpole-sb3", "bob/cartpole-cleanrl", "alice/cartpole-ppo"
# Direct HfApi calls talk to the local Hub, which has no Xet.
huggingface_hub.constants.HF_HUB_DISABLE_XET = True


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with running_hub(tmp_path_factory.mktemp("lbhub")) as server:
        yield server


def _tempered_run(cartpole_run, folder, factor: float):
    """A copy of the trained run whose action logits are scaled by ``factor``: a
    policy closer to uniform, so weaker by a known, repeatable amount (no training)."""
    shutil.copytree(cartpole_run, folder, ignore=shutil.ignore_patterns("hub"))
    policy = Policy.load(folder)
    with torch.no_grad():
        policy.net[-1].weight.mul_(factor)
        policy.net[-1].bias.mul_(factor)
    policy.save(folder)
    return folder


def _readme(tags: list[str], model_index_env: str | None, value: str | None = None) -> bytes:
    """A model card with these tags and (optionally) a model-index result on one env."""
    if model_index_env is None:
        data = {"library_name": "hubpg", "tags": tags}
        import yaml

        meta = yaml.safe_dump(data, sort_keys=False)
    else:
        card_data = card_metadata(model_index_env, 1.0, 0.0)
        card_data.tags = tags
        meta = card_data.to_yaml()
        if value is not None:
            meta = meta.replace("1.00 +/- 0.00", value)
    return f"---\n{meta}\n---\n\n# A test card\n".encode()


def _upload(api: HfApi, repo_id: str, files: dict[str, bytes]) -> None:
    api.create_repo(repo_id, exist_ok=True)
    for path, content in files.items():
        api.upload_file(path_or_fileobj=content, path_in_repo=path, repo_id=repo_id)


@pytest.fixture(scope="module")
def models(hub, cartpole_run, tmp_path_factory):
    """Thirteen repos; returns {repo_id: main commit sha} of those anonymous users see."""
    tmp = tmp_path_factory.mktemp("lbruns")
    alice, bob = HfApi(endpoint=hub.url, token=ALICE), HfApi(endpoint=hub.url, token=BOB)
    api_of = {"alice": alice, "bob": bob}
    token_of = {"alice": ALICE, "bob": BOB}
    # a copy without the session run's package, which other tests may have built
    # with fewer episodes (push reuses a package that is there)
    good = shutil.copytree(cartpole_run, tmp / "good", ignore=shutil.ignore_patterns("hub"))
    for repo in GOOD:  # the trained run, 500 +/- 0
        push(good, repo=repo, endpoint=hub.url, token=token_of[repo.split("/")[0]])
    push(good, repo=PRIVATE, private=True, endpoint=hub.url, token=ALICE)
    for repo, factor in ((MID, 0.5), (LOW, 0.2), (INFLATED, 0.1)):
        run = _tempered_run(cartpole_run, tmp / repo.replace("/", "--"), factor)
        owner = repo.split("/")[0]
        push(run, repo=repo, endpoint=hub.url, token=token_of[owner], episodes=20, video=False)
    card = ModelCard.load(tmp / "alice--cartpole-inflated" / "hub" / "README.md")
    card.data.eval_results[0].metric_value = "500.00 +/- 0.00"
    _upload(alice, INFLATED, {"README.md": str(card).encode()})

    course_tags = [ENV, "reinforce", "reinforcement-learning", "custom-implementation"]
    _upload(
        bob,
        PICKLE,
        {
            "README.md": _readme(course_tags, ENV, "480.00 +/- 20.00"),
            "model.pt": pickle.dumps({"weights": [0.0] * 8}),
        },
    )
    config = json.loads((cartpole_run / "config.json").read_text())
    config["hidden"] = [64, 64]
    _upload(
        bob,
        MISMATCHED,
        {
            "README.md": _readme(course_tags, ENV, "300.00 +/- 10.00"),
            "config.json": json.dumps(config).encode(),
            "model.safetensors": (cartpole_run / "model.safetensors").read_bytes(),
        },
    )
    # Shared course cards often carry the wrong env's tag: listed, then set apart.
    _upload(
        alice,
        MISLABELED,
        {"README.md": _readme(course_tags, "Pixelcopter-PLE-v0", "12.00 +/- 3.00")},
    )
    _upload(bob, GARBLED, {"README.md": _readme(course_tags, ENV, "great")})
    _upload(bob, NO_INDEX, {"README.md": _readme(course_tags, None)})
    # Not listed at all: another env's agent, and a CartPole agent of another algorithm.
    _upload(
        alice,
        "alice/pixelcopter-agent",
        {"README.md": _readme(["Pixelcopter-PLE-v0", "reinforce"], "Pixelcopter-PLE-v0")},
    )
    _upload(alice, "alice/cartpole-ppo", {"README.md": _readme([ENV, "ppo"], ENV, "500 +/- 0")})
    # Listed without --tag: other libraries' models, as the course leaderboard lists them.
    for api, repo, library, value in (
        (alice, SB3, "stable-baselines3", "480.00 +/- 10.00"),
        (bob, CLEANRL, "cleanrl", "300.00 +/- 5.00"),
    ):
        meta = _readme([ENV, library, "deep-rl-course"], ENV, value).decode()
        meta = meta.replace("library_name: hubpg", f"library_name: {library}")
        _upload(api, repo, {"README.md": meta.encode(), "model.zip": b"PK\x05\x06" + bytes(18)})
    repos = [*GOOD, MID, LOW, INFLATED, PICKLE, MISMATCHED, MISLABELED, GARBLED, NO_INDEX]
    return {repo: api_of[repo.split("/")[0]].model_info(repo).sha for repo in repos}


def by_repo(rows):
    return {row["repo_id"]: row for row in rows}


def ranked_ids(rows):
    return [row["repo_id"] for row in rows if row["rank"] is not None]


def measured(rows):
    """The rows without the time they were verified at (two runs differ only there)."""
    return [{k: v for k, v in row.items() if k != "verified_at"} for row in rows]


@pytest.fixture(scope="module")
def verified(hub, models):
    """The anonymous leaderboard verified by a pool of two worker processes."""
    return leaderboard(ENV, endpoint=hub.url, verify=True, workers=2, tag="reinforce")


def test_unverified_ranks_by_claimed_score_and_sets_apart_bad_cards(hub, models) -> None:
    rows = leaderboard(ENV, endpoint=hub.url, tag="reinforce")
    assert all(tuple(row) == ROW_KEYS for row in rows)
    assert {row["repo_id"] for row in rows} == set(models)  # private and untagged are absent
    ranked = [row for row in rows if row["rank"] is not None]
    assert [row["rank"] for row in ranked] == list(range(1, len(ranked) + 1))
    scores = [row["claimed_score"] for row in ranked]
    assert scores == sorted(scores, reverse=True)
    # 500 +/- 0 four times (ties by repo id), then the course pickle's 460, the
    # mismatched repo's 290, then the two weak agents' honest claims.
    assert ranked_ids(rows) == [
        "alice/cartpole-good-a",
        "alice/cartpole-good-b",
        INFLATED,
        "bob/cartpole-good-c",
        PICKLE,
        MISMATCHED,
        MID,
        LOW,
    ]
    table = by_repo(rows)
    assert table[PICKLE]["claimed_mean"] == 480.0 and table[PICKLE]["claimed_std"] == 20.0
    assert table[PICKLE]["claimed_score"] == 460.0
    assert table[MISLABELED]["problem"] == "card claims Pixelcopter-PLE-v0"
    assert table[GARBLED]["problem"] == NO_CLAIM and table[NO_INDEX]["problem"] == NO_CLAIM
    assert [row["repo_id"] for row in rows[len(ranked) :]] == sorted(
        [MISLABELED, GARBLED, NO_INDEX]
    )
    for row in rows:
        assert row["revision"] == models[row["repo_id"]]
        assert row["date"] and row["date"][:2] == "20" and "T" in row["date"]
        for key in ("measured_mean", "measured_std", "measured_score", "claim_supported"):
            assert row[key] is None
        assert (row["rank"] is None) == (row["problem"] is not None)


def test_every_model_tagged_with_the_env_is_listed_and_others_are_marked(hub, models) -> None:
    rows = by_repo(leaderboard(ENV, endpoint=hub.url))
    assert set(rows) == {*models, SB3, CLEANRL, PPO}  # not only those tagged reinforce
    assert rows[SB3]["other_format"] == "stable-baselines3"
    assert rows[CLEANRL]["other_format"] == "CleanRL"
    assert rows[SB3]["rank"] is not None and rows[CLEANRL]["rank"] is not None  # by claim
    assert rows[SB3]["rank"] < rows[PICKLE]["rank"]  # 470 before the course pickle's 460
    assert rows[PPO]["other_format"] is None  # a hubpg card: verified as any other
    verified = by_repo(leaderboard(ENV, endpoint=hub.url, verify=True, workers=1, episodes=3))
    for repo, name in ((SB3, "stable-baselines3"), (CLEANRL, "CleanRL")):
        assert verified[repo]["rank"] is None and verified[repo]["measured_mean"] is None
        assert verified[repo]["problem"] == f"not verifiable here: {name}"
    apart = [r["repo_id"] for r in verified.values() if r["rank"] is None]
    assert sorted(apart, key=lambda r: (verified[r]["other_format"] is None, r))[:2] == [
        SB3,
        CLEANRL,
    ]
    proc = run_cli("leaderboard", ENV, "--endpoint", hub.url)
    assert proc.returncode == 0, proc.stderr
    assert re.search(rf"^ *\d+ +{SB3} .*not verifiable here: stable-baselines3$", proc.stdout, re.M)
    assert f"models tagged {ENV} on" in proc.stderr
    proc = run_cli("leaderboard", ENV, "--endpoint", hub.url, "--tag", "reinforce", "--json")
    assert {r["repo_id"] for r in json.loads(proc.stdout)} == set(models)


def test_private_models_are_listed_only_for_their_owner(hub, models) -> None:
    assert PRIVATE not in by_repo(leaderboard(ENV, endpoint=hub.url, token=BOB))
    mine = by_repo(leaderboard(ENV, endpoint=hub.url, token=ALICE))
    assert mine[PRIVATE]["rank"] is not None and mine[PRIVATE]["claimed_score"] == 500.0
    bobs = leaderboard(ENV, endpoint=hub.url, author="bob")
    assert {row["repo_id"].split("/")[0] for row in bobs} == {"bob"}


def test_top_keeps_the_best_and_still_shows_the_set_apart_rows(hub, models) -> None:
    import hubpg
    import hubpg.ranking

    # hubpg.leaderboard is the function, also once its module (hubpg.ranking) is imported
    rows = hubpg.leaderboard(ENV, endpoint=hub.url, top=2)
    assert ranked_ids(rows) == ["alice/cartpole-good-a", "alice/cartpole-good-b"]
    assert {row["repo_id"] for row in rows if row["rank"] is None} == {
        MISLABELED,
        GARBLED,
        NO_INDEX,
    }


def test_verify_ranks_by_measured_score_and_flags_the_inflated_claim(models, verified) -> None:
    table = by_repo(verified)
    assert ranked_ids(verified) == [*GOOD, MID, LOW, INFLATED]
    for repo in GOOD:
        row = table[repo]
        assert row["measured_mean"] == 500.0 and row["measured_std"] == 0.0
        assert row["claim_supported"] is True and row["claimed_n_episodes"] == 100
    for repo in (MID, LOW):
        assert table[repo]["claim_supported"] is True
        assert table[repo]["claimed_n_episodes"] == 20
        assert table[repo]["measured_score"] < 300
    inflated = table[INFLATED]
    assert inflated["claimed_mean"] == 500.0 and inflated["claim_supported"] is False
    assert inflated["measured_score"] < table[LOW]["measured_score"]
    assert table[PICKLE]["problem"] == PICKLE_PROBLEM and table[PICKLE]["rank"] is None
    assert table[PICKLE]["measured_mean"] is None
    assert table[MISMATCHED]["problem"].startswith("verification failed:")
    assert "does not match its config.json" in table[MISMATCHED]["problem"]
    assert table[MISLABELED]["problem"] == "card claims Pixelcopter-PLE-v0"
    for row in verified:
        assert row["revision"] == models[row["repo_id"]]  # verified exactly what was listed
        if row["rank"] is not None:
            assert row["measured_n_episodes"] == 100
            assert row["measured_score"] == pytest.approx(
                row["measured_mean"] - row["measured_std"]
            )


def test_one_worker_in_process_measures_exactly_what_the_pool_measures(hub, verified) -> None:
    threads = torch.get_num_threads()
    alone = leaderboard(ENV, endpoint=hub.url, verify=True, workers=1, tag="reinforce")
    assert torch.get_num_threads() == threads  # the caller's setting is restored
    assert measured(alone) == measured(verified)


def _dies_on_weak_mid(tasks):
    """verify_batch, except that the worker verifying MID dies on the spot."""
    if any(task["repo_id"] == MID for task in tasks):
        os._exit(3)
    return verify_batch(tasks)


def test_a_worker_that_dies_sets_apart_only_its_model(hub, verified, monkeypatch) -> None:
    import hubpg.ranking.executors

    monkeypatch.setattr(hubpg.ranking.executors, "verify_batch", _dies_on_weak_mid)
    rows = by_repo(leaderboard(ENV, endpoint=hub.url, author="bob", verify=True, workers=2))
    assert rows[MID]["rank"] is None
    assert rows[MID]["problem"].startswith("verification failed: the worker process died")
    expected = by_repo(verified)
    assert rows["bob/cartpole-good-c"]["measured_mean"] == 500.0
    assert rows["bob/cartpole-good-c"]["rank"] == 1
    for repo in (PICKLE, MISMATCHED, GARBLED, NO_INDEX):
        assert rows[repo]["problem"] == expected[repo]["problem"]


def test_ray_missing_is_a_one_line_install_hint(hub, models, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(RayMissingError, match=r'pip install "hubpg\[ray\]"'):
        leaderboard(ENV, endpoint=hub.url, verify=True, ray="local")


def _ray_installed() -> bool:
    try:
        return importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):
        return False


@pytest.mark.slow
@pytest.mark.skipif(
    not _ray_installed(),
    reason='Ray is not installed (pip install "hubpg[ray]"): the --ray path is untested here',
)
def test_verify_on_a_local_ray_matches_the_process_pool(hub, verified, tmp_path) -> None:
    # Through the command (a process of its own, stdout kept clean for --json while
    # Ray starts), with a time limit so that a Ray that cannot start fails the test.
    proc = run_cli(
        "leaderboard",
        ENV,
        "--endpoint",
        hub.url,
        "--verify",
        "--ray",
        "local",
        "--workers",
        "2",
        "--db",
        str(tmp_path / "store.sqlite"),
        "--tag",
        "reinforce",
        "--json",
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    from hubpg.runfolder import clean_numbers

    # --json drops float noise; "verified" says now/stored
    assert measured(json.loads(proc.stdout)) == measured(clean_numbers(verified))


def test_cli_json_and_csv(hub, models) -> None:
    proc = run_cli("leaderboard", ENV, "--endpoint", hub.url, "--json", "--tag", "reinforce")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert isinstance(rows, list) and len(rows) == len(models)
    for row in rows:
        assert set(row) >= REQUIRED
        assert row["measured_score"] is None and row["claim_supported"] is None
    assert by_repo(rows)[MISLABELED]["problem"] == "card claims Pixelcopter-PLE-v0"
    assert rows[0]["rank"] == 1 and rows[0]["claimed_score"] == 500.0

    proc = run_cli(
        "leaderboard", ENV, "--endpoint", hub.url, "--csv", "--top", "3", "--tag", "reinforce"
    )
    assert proc.returncode == 0, proc.stderr
    parsed = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert list(parsed[0]) == list(ROW_KEYS)
    assert [r["rank"] for r in parsed] == ["1", "2", "3", "", "", ""]
    assert float(parsed[0]["claimed_score"]) == 500.0 and parsed[0]["measured_mean"] == ""


def test_cli_verify_prints_a_table_and_the_set_apart_models(hub, models, tmp_path) -> None:
    db = str(tmp_path / "store.sqlite")
    proc = run_cli(
        "leaderboard",
        ENV,
        "--endpoint",
        hub.url,
        "--verify",
        "--workers",
        "2",
        "--top",
        "4",
        "--db",
        db,
        "--tag",
        "reinforce",
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    header = lines[0].split()
    assert header[:4] == ["rank", "repo", "claimed", "score"] and "measured" in header
    assert [line.split()[1] for line in lines[1:5]] == [*GOOD, MID]
    assert "500.00 +/- 0.00" in lines[1] and "yes" in lines[1]
    apart = proc.stdout.split("set apart (5):", 1)[1]
    assert re.search(rf"^  {PICKLE} +{PICKLE_PROBLEM}$", apart, re.MULTILINE)
    assert "card claims Pixelcopter-PLE-v0" in apart and "verification failed:" in apart
    assert "verifying CartPole-v1" in proc.stderr  # the progress bar (models done)


def test_cli_refuses_json_with_csv_and_an_unknown_env(hub) -> None:
    proc = run_cli("leaderboard", ENV, "--endpoint", hub.url, "--json", "--csv")
    assert proc.returncode == 2 and "exclude each other" in proc.stderr
    assert proc.stdout == ""
    proc = run_cli("leaderboard", "CartPoel-v1", "--endpoint", hub.url)
    assert proc.returncode == 2 and "unknown env id" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


# --------------------------------------------------------------------------- issue 16: hostile listings


class HostileListing:
    """A loopback HTTP server answering ``GET /api/models`` with fixed items, as a
    hostile or broken Hub could (hubpg's own server refuses such cards at commit, so
    only a server like this can still send them); the real huggingface_hub client
    and hubpg's own listing code read it."""

    def __init__(self, items: list) -> None:
        import http.server
        import threading

        body = json.dumps(items).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _item(repo_id: str, card: object) -> dict:
    return {
        "id": repo_id,
        "_id": repo_id,
        "modelId": repo_id,
        "sha": "0" * 40,
        "tags": [ENV, "reinforce"],
        "private": False,
        "cardData": card,
    }


def _claim_card(value: str, env_id: str = ENV) -> dict:
    return {
        "tags": [env_id, "reinforce"],
        "model-index": [
            {
                "name": "x",
                "results": [
                    {
                        "task": {"type": "reinforcement-learning"},
                        "dataset": {"name": env_id, "type": env_id},
                        "metrics": [{"type": "mean_reward", "value": value}],
                    }
                ],
            }
        ],
    }


@pytest.fixture
def hostile_listing():
    deep: object = "x"
    for _ in range(200):
        deep = {"k": deep}
    items = [
        _item("alice/honest", _claim_card("450.00 +/- 10.00")),
        _item("alice/modest", _claim_card("300.00 +/- 10.00")),
        _item("mallory/impossible", _claim_card("800.00 +/- 100.00")),
        _item("mallory/huge-std", _claim_card("100 +/- 1e200")),
        _item("mallory/self-key", {"self": 1, **_claim_card("500.00 +/- 0.00")}),
        _item("mallory/deep", {"extra": deep, **_claim_card("500.00 +/- 0.00")}),
        "not an object",
    ]
    server = HostileListing(items)
    yield server
    server.close()


def test_a_hostile_listing_never_stops_the_leaderboard(hostile_listing) -> None:
    # before: the `self` key made huggingface_hub's ModelInfo raise inside list_models
    rows = leaderboard(ENV, endpoint=hostile_listing.url, timeout=10)
    by_id = {row["repo_id"]: row for row in rows}
    ranked = [row["repo_id"] for row in rows if row["rank"] is not None]
    # an impossible claim ranks after every other one, however high it is
    assert ranked == ["alice/honest", "alice/modest", "mallory/impossible"]
    impossible = by_id["mallory/impossible"]
    assert impossible["claim_supported"] is False
    assert "maximum return 500" in impossible["claim_problem"]
    assert by_id["alice/honest"]["claim_supported"] is None  # not measured, not impossible
    for repo in ("mallory/huge-std", "mallory/self-key", "mallory/deep"):
        assert by_id[repo]["rank"] is None and by_id[repo]["problem"], by_id[repo]
    assert any(row["rank"] is None and "str" in row["problem"] for row in rows)


def test_leaderboard_json_of_a_hostile_listing_is_strict_json(hostile_listing) -> None:
    proc = run_cli("leaderboard", ENV, "--endpoint", hostile_listing.url, "--json")
    assert proc.returncode == 0, proc.stderr
    assert "Infinity" not in proc.stdout and "NaN" not in proc.stdout
    rows = json.loads(proc.stdout)
    assert {row["repo_id"] for row in rows} >= {"alice/honest", "mallory/self-key"}


def test_one_bad_row_is_set_apart_and_never_stops_the_others() -> None:
    from hubpg.ranking import apply_measurement, rank_rows

    def row(repo_id: str, mean: float, std: float) -> dict:
        return dict.fromkeys(ROW_KEYS) | {
            "repo_id": repo_id,
            "claimed_mean": mean,
            "claimed_std": std,
            "claimed_score": mean - std,
        }

    good, bad, huge = row("a/good", 500.0, 0.0), row("a/bad", 500.0, 0.0), row("a/huge", 1.0, 0.0)
    huge["claimed_n_episodes"] = 10**400  # before: OverflowError in claim_supported
    apply_measurement(good, {"mean": 500.0, "std": 0.0, "n_episodes": 100}, ENV)
    apply_measurement(bad, {"mean": "oops", "std": 0.0, "n_episodes": 100}, ENV)
    apply_measurement(
        huge,
        {"mean": 1.0, "std": 0.0, "n_episodes": 100, "claimed_n_episodes": 10**400},
        ENV,
    )
    assert good["claim_supported"] is True and good["problem"] is None
    assert bad["problem"].startswith("cannot score the measurement")
    assert huge["claim_supported"] is True and huge["problem"] is None
    ranked = rank_rows([good, bad, huge], by="measured_score")
    assert [r["repo_id"] for r in ranked] == ["a/good", "a/huge", "a/bad"]
    assert ranked[-1]["rank"] is None
