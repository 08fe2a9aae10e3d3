"""notebooks/reinforce_unit4.ipynb (the journey in a few calls) and
notebooks/unit4_lesson.ipynb (the student's own Policy and reinforce(), shared with
hubpg.push_to_hub): stored without outputs, and run end to end on a real Jupyter kernel
(nbclient) against a local Hub each starts itself."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "reinforce_unit4.ipynb"
LESSON = NOTEBOOK.with_name("unit4_lesson.ipynb")


def read_notebook(path: Path = NOTEBOOK) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def cell_tagged(nb: nbformat.NotebookNode, tag: str) -> nbformat.NotebookNode:
    (cell,) = [c for c in nb.cells if tag in c.get("metadata", {}).get("tags", [])]
    return cell


def text_of(cell: nbformat.NotebookNode) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream" and output.get("name") == "stdout":
            parts.append(output["text"])
    return "".join(parts)


@pytest.mark.parametrize("path", [NOTEBOOK, LESSON], ids=lambda p: p.name)
def test_the_notebook_in_git_has_no_outputs(path) -> None:
    nb = read_notebook(path)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "no code cells"
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
    assert "parameters" in cell_tagged(nb, "parameters").metadata.tags


@pytest.mark.slow
def test_the_notebook_runs_on_a_kernel_and_prints_the_cartpole_score(tmp_path) -> None:
    nb = read_notebook()
    tiny_pixelcopter = {"HUBPG_NOTEBOOK_PIXELCOPTER_STEPS": "20000"}  # env steps
    execute(nb, tmp_path, tiny_pixelcopter)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []
    assert text_of(cell_tagged(nb, "score")).strip() == "500.00 +/- 0.00"
    html = [
        o["data"]["text/html"]
        for c in nb.cells
        for o in c.get("outputs", [])
        if o.output_type == "execute_result" and "text/html" in o.get("data", {})
    ]
    assert any("<video" in page and "500.00 +/- 0.00" in page for page in html)
    assert (tmp_path / "runs" / "CartPole-v1-reinforce-s1" / "hub" / "replay.mp4").is_file()
    assert (tmp_path / "replay_from_the_hub.mp4").is_file()


@pytest.mark.slow
def test_the_lesson_notebook_shares_the_students_own_policy(tmp_path) -> None:
    nb = read_notebook(LESSON)
    execute(nb, tmp_path, {"HUBPG_LESSON_EPISODES": "30"})  # the course trains 1,000
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []
    assert text_of(cell_tagged(nb, "verified")).strip() == "True"  # the claim holds
    shown = [
        o["data"].get("text/plain", "")
        for c in nb.cells
        for o in c.get("outputs", [])
        if o.output_type == "execute_result"
    ]
    assert any(s.startswith("Pushed(student/Reinforce-CartPole-v1 @ ") for s in shown)
    assert any("#1 student/Reinforce-CartPole-v1" in s for s in shown)  # on the leaderboard
    printed = "".join(text_of(c) for c in nb.cells)
    assert "Episode 30\tAverage Score" in printed and "checked against its forward" in printed


def execute(nb: nbformat.NotebookNode, tmp_path: Path, extra: dict[str, str]) -> None:
    """Run ``nb`` on a python3 kernel in ``tmp_path``, offline against its own local Hub."""
    from nbclient import NotebookClient

    repo_root = str(NOTEBOOK.parents[1])
    env = {
        **extra,
        "HUBPG_NOTEBOOK_LOCAL_HUB": "1",  # never the real Hub, whatever login this machine has
        "PYTHONPATH": os.pathsep.join(filter(None, [repo_root, os.environ.get("PYTHONPATH")])),
        "MPLBACKEND": "Agg",
        "SDL_VIDEODRIVER": "dummy",
    }
    saved = {key: os.environ.get(key) for key in [*env, "HF_TOKEN"]}
    os.environ.update(env)
    os.environ.pop("HF_TOKEN", None)
    try:  # the kernel inherits this process's environment
        client = NotebookClient(
            nb,
            timeout=600,
            kernel_name="python3",
            resources={"metadata": {"path": str(tmp_path)}},
        )
        client.execute()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
