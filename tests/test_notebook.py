"""notebooks/reinforce_unit4.ipynb: stored without outputs, and run end to end on a real
Jupyter kernel (nbclient) against a local Hub it starts itself."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "reinforce_unit4.ipynb"


def read_notebook() -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOK, as_version=4)


def cell_tagged(nb: nbformat.NotebookNode, tag: str) -> nbformat.NotebookNode:
    (cell,) = [c for c in nb.cells if tag in c.get("metadata", {}).get("tags", [])]
    return cell


def text_of(cell: nbformat.NotebookNode) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream" and output.get("name") == "stdout":
            parts.append(output["text"])
    return "".join(parts)


def test_the_notebook_in_git_has_no_outputs() -> None:
    nb = read_notebook()
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "no code cells"
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
    assert "parameters" in cell_tagged(nb, "parameters").metadata.tags


@pytest.mark.slow
def test_the_notebook_runs_on_a_kernel_and_prints_the_cartpole_score(tmp_path) -> None:
    from nbclient import NotebookClient

    nb = read_notebook()
    repo_root = str(NOTEBOOK.parents[1])
    env = {
        "HUBPG_NOTEBOOK_PIXELCOPTER_STEPS": "20000",  # a tiny Pixelcopter budget
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
