"""The learning-curve image (hubpg.plots)."""

from __future__ import annotations

import struct
import sys

import numpy as np
import pytest

from hubpg.errors import PlotWriteError, UnplottableLogError
from hubpg.plots import plot_learning_curve, rolling_mean

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def _rows(n: int) -> list[dict]:
    return [{"steps": 1000 * (i + 1), "mean_return": 10.0 + i, "loss": 0.1} for i in range(n)]


def test_writes_a_640x400_png_atomically(tmp_path):
    out = plot_learning_curve(_rows(200), tmp_path / "learning_curve.png", "CartPole-v1")
    assert out == tmp_path / "learning_curve.png"
    assert _png_size(out.read_bytes()) == (640, 400)
    assert [p.name for p in tmp_path.iterdir()] == ["learning_curve.png"]  # no temp file left


def test_one_row_and_missing_returns_still_plot(tmp_path):
    plot_learning_curve(_rows(1), tmp_path / "one.png", "Pixelcopter-PLE-v0", title="t")
    rows = _rows(5) + [{"steps": 9000, "mean_return": None}, {"steps": 9500, "mean_return": "nan"}]
    rows.append({"steps": 9800, "loss": 0.1})  # read_log's row of an update that ended no episode
    out = plot_learning_curve(rows, tmp_path / "sub" / "five.png", "CartPole-v1")
    assert _png_size(out.read_bytes()) == (640, 400)


def test_empty_rows_are_an_error(tmp_path):
    with pytest.raises(UnplottableLogError, match="no rows") as info:
        plot_learning_curve([], tmp_path / "x.png", "CartPole-v1")
    assert isinstance(info.value, ValueError)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "rows",
    [[{"steps": 1}], [{"mean_return": 1.0}], [{"steps": 1, "mean_return": 2.0}, "oops"]],
)
def test_rows_without_the_keys_are_an_error(tmp_path, rows):
    with pytest.raises(UnplottableLogError, match="'steps' or 'mean_return'"):
        plot_learning_curve(rows, tmp_path / "x.png", "CartPole-v1")


def test_rows_without_any_finite_return_are_an_error(tmp_path):
    with pytest.raises(UnplottableLogError, match="finite"):
        plot_learning_curve([{"steps": 1, "mean_return": None}], tmp_path / "x.png", "CartPole-v1")


def test_unwritable_path_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(PlotWriteError, match="cannot write the learning curve"):
        plot_learning_curve(_rows(3), blocker / "curve.png", "CartPole-v1")


def test_rolling_mean():
    got = rolling_mean(np.array([1.0, 2.0, 3.0, 4.0]), 2)
    assert np.allclose(got, [1.0, 1.5, 2.5, 3.5])
    assert np.allclose(rolling_mean(np.array([5.0, 7.0]), 1), [5.0, 7.0])


def test_does_not_touch_pyplot(tmp_path):
    had_pyplot = "matplotlib.pyplot" in sys.modules
    plot_learning_curve(_rows(3), tmp_path / "c.png", "CartPole-v1")
    assert ("matplotlib.pyplot" in sys.modules) == had_pyplot
