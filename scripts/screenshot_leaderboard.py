"""Make the README's screenshot of a verified leaderboard page (docs/leaderboard.png).

Offline, start to finish: it trains one CartPole-v1 run (or reuses ``--run DIR``),
starts a local Hub, pushes a handful of models (the trained agent, weakened copies
of it with honest claims, one whose card inflates its score, one claiming more than
CartPole-v1's maximum return, a course-notebook pickle and a card for another env),
runs ``hubpg.leaderboard(..., verify=True)`` and ``hubpg.leaderboard_page``, and
photographs the page in headless Chromium (Debian's, through Playwright).

Usage: python scripts/screenshot_leaderboard.py [--out docs/leaderboard.png]
       [--episodes 100] [--run DIR] [--site DIR]
"""

from __future__ import annotations

import argparse
import os
import pickle
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_HUB_DISABLE_XET", "1")  # the local Hub speaks plain Git LFS

ROOT = Path(__file__).resolve().parents[1]
ENV_ID = "CartPole-v1"
USERS = {"hf_local_alice": "alice", "hf_local_bob": "bob", "hf_local_carol": "carol"}
TOKEN_OF = {name: token for token, name in USERS.items()}
#: repo -> scale of the final layer's weights (1.0: the trained agent; lower: weaker)
HONEST = {
    "alice/Reinforce-CartPole-v1": 1.0,
    "carol/cartpole-reinforce-baseline": 1.0,
    "bob/reinforce-cartpole-small": 0.3,
    "carol/cartpole-early-stop": 0.15,
}
INFLATED = "bob/cartpole-best-ever"
IMPOSSIBLE = "alice/cartpole-1000"


def trained_run(run: Path | None, tmp: Path) -> Path:
    if run is not None:  # a copy: pushing packages the run, and that one is not ours
        copy = tmp / "run"
        shutil.copytree(run, copy, ignore=shutil.ignore_patterns("hub"))
        return copy
    from hubpg.config import TrainConfig
    from hubpg.reinforce import train

    print(f"training {ENV_ID} (a few seconds)", file=sys.stderr)
    train(TrainConfig.for_env(ENV_ID, seed=1), tmp / "run", progress=False)
    return tmp / "run"


def weakened(run: Path, folder: Path, factor: float) -> Path:
    """A copy of ``run`` whose action logits are scaled by ``factor`` (closer to uniform)."""
    import torch

    from hubpg.policy import Policy

    shutil.copytree(run, folder, ignore=shutil.ignore_patterns("hub"))
    policy = Policy.load(folder)
    with torch.no_grad():
        policy.net[-1].weight.mul_(factor)
        policy.net[-1].bias.mul_(factor)
    policy.save(folder)
    return folder


def set_claim(api: object, repo_id: str, package: Path, value: str) -> None:
    """Overwrite the card's claimed ``mean_reward`` (what a dishonest card does)."""
    from huggingface_hub import ModelCard

    card = ModelCard.load(package / "README.md")
    card.data.eval_results[0].metric_value = value
    api.upload_file(path_or_fileobj=str(card).encode(), path_in_repo="README.md", repo_id=repo_id)


def course_card(env_id: str, value: str) -> bytes:
    from hubpg.card import card_metadata

    data = card_metadata(env_id, 1.0, 0.0)
    data.tags = [env_id, ENV_ID, "reinforce", "reinforcement-learning", "custom-implementation"]
    meta = data.to_yaml().replace("1.00 +/- 0.00", value)
    return f"---\n{meta}\n---\n\n# Reinforce agent\n".encode()


def push_models(url: str, run: Path, tmp: Path, episodes: int) -> None:
    from huggingface_hub import HfApi

    from hubpg.api import push

    options = {"endpoint": url, "episodes": episodes, "video": False}
    for repo, factor in HONEST.items():
        owner = repo.split("/")[0]
        folder = run if factor == 1.0 else weakened(run, tmp / repo.replace("/", "--"), factor)
        push(folder, repo=repo, token=TOKEN_OF[owner], **options)
    for repo, value, factor in (
        (INFLATED, "498.00 +/- 2.00", 0.2),
        (IMPOSSIBLE, "1000.00 +/- 0.00", 0.5),
    ):
        owner = repo.split("/")[0]
        folder = weakened(run, tmp / repo.replace("/", "--"), factor)
        push(folder, repo=repo, token=TOKEN_OF[owner], **options)
        set_claim(HfApi(endpoint=url, token=TOKEN_OF[owner]), repo, folder / "hub", value)
    bob = HfApi(endpoint=url, token=TOKEN_OF["bob"])
    for repo, files in {
        "bob/Reinforce-CartPole-course": {
            "README.md": course_card(ENV_ID, "500.00 +/- 0.00"),
            "model.pt": pickle.dumps({"weights": [0.0] * 8}),
        },
        "bob/pixelcopter-tagged-cartpole": {
            "README.md": course_card("Pixelcopter-PLE-v0", "25.30 +/- 12.10"),
        },
    }.items():
        bob.create_repo(repo)
        for path, content in files.items():
            bob.upload_file(path_or_fileobj=content, path_in_repo=path, repo_id=repo)


def screenshot(index: Path, out: Path) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from browser import CHROMIUM_ARGS, chromium_path
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise SystemExit("no chromium on this machine: apt-get install chromium")
    out.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.emulate_media(color_scheme="light")
            page.goto(index.as_uri(), wait_until="load")
            page.screenshot(path=str(out), full_page=True)
        finally:
            browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "leaderboard.png")
    parser.add_argument("--episodes", type=int, default=100, help="verification episodes")
    parser.add_argument("--run", type=Path, default=None, help="reuse this trained run folder")
    parser.add_argument("--site", type=Path, default=None, help="also keep the site here")
    args = parser.parse_args()

    import hubpg
    from hubpg.localhub.testing import running_hub

    with tempfile.TemporaryDirectory(prefix="screenshot-leaderboard-") as name:
        tmp = Path(name)
        run = trained_run(args.run, tmp)
        with running_hub(tmp / "hubdata", users=USERS) as hub:
            push_models(hub.url, run, tmp, min(args.episodes, 20))
            rows = hubpg.leaderboard(
                ENV_ID,
                endpoint=hub.url,
                verify=True,
                episodes=args.episodes,
                workers=1,
                progress=False,
            )
        site = hubpg.leaderboard_page(
            rows, args.site or tmp / "site", env_id=ENV_ID, endpoint=hub.url, episodes=args.episodes
        )
        screenshot(site / "index.html", args.out)
    print(f"wrote {args.out} ({len(rows)} models on the page)")


if __name__ == "__main__":
    main()
