"""Replay recording and mp4 encoding (hubpg.video)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import gymnasium as gym
import imageio.v2 as iio
import numpy as np
import pytest

from hubpg.errors import VideoError
from hubpg.video import env_fps, output_size, record_episode, upscale, write_mp4


def _mp4_boxes(path: Path) -> list[bytes]:
    """Top-level MP4 box types, in file order."""
    data = path.read_bytes()
    kinds, pos = [], 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        kinds.append(data[pos + 4 : pos + 8])
        if size == 1:
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
        assert size >= 8
        pos += size
    assert pos == len(data)
    return kinds


def _decode(path: Path) -> tuple[dict, list[np.ndarray]]:
    reader = iio.get_reader(path, format="FFMPEG")
    try:
        return reader.get_meta_data(), [frame for frame in reader]
    finally:
        reader.close()


@pytest.fixture
def cartpole():
    env = gym.make("CartPole-v1", render_mode="rgb_array")
    yield env
    env.close()


def test_record_and_encode_cartpole_round_trip(cartpole, tmp_path, capfd, caplog):
    caplog.set_level(logging.WARNING)
    frames, ret, length = record_episode(cartpole, lambda obs: 0, seed=3, max_t=500)
    assert 1 <= length < 500  # always pushing left ends the episode quickly
    assert ret == float(length)  # CartPole pays 1 per step
    assert len(frames) == length + 1
    assert frames[0].shape == (400, 600, 3) and frames[0].dtype == np.uint8

    out = write_mp4(frames, tmp_path / "replay.mp4", fps=env_fps(cartpole))
    assert out == tmp_path / "replay.mp4"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["replay.mp4"]  # no temp file left

    meta, decoded = _decode(out)
    assert len(decoded) == len(frames)
    assert meta["codec"] == "h264"
    assert meta["pix_fmt"].startswith("yuv420p")
    assert meta["size"] == (608, 400)  # width padded 600 -> 608, a multiple of 16
    assert meta["fps"] == pytest.approx(50.0)
    assert decoded[0].shape == (400, 608, 3)
    # lossy, but the picture is the recorded one (not shifted, scaled or blank)
    for i in (0, len(frames) - 1):
        diff = np.abs(decoded[i].astype(int) - upscale(frames[i]).astype(int))
        assert diff.mean() < 3.0
    # +faststart: the index (moov) precedes the media data
    boxes = _mp4_boxes(out)
    assert boxes[0] == b"ftyp" and boxes.index(b"moov") < boxes.index(b"mdat")

    captured = capfd.readouterr()
    assert captured.out == ""  # neither ffmpeg nor pygame writes to stdout
    assert not [r for r in caplog.records if r.name.startswith("imageio")]  # no resize warning


def test_record_stops_at_max_t(cartpole):
    actions = iter([0, 1] * 10)
    frames, ret, length = record_episode(cartpole, lambda obs: next(actions), seed=0, max_t=4)
    assert length == 4 and ret == 4.0 and len(frames) == 5


def test_record_is_seeded(cartpole):
    a, _, _ = record_episode(cartpole, lambda obs: int(obs[2] > 0), seed=11, max_t=5)
    b, _, _ = record_episode(cartpole, lambda obs: int(obs[2] > 0), seed=11, max_t=5)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_record_refuses_env_without_rgb_array():
    env = gym.make("CartPole-v1")
    try:
        with pytest.raises(VideoError, match="rgb_array"):
            record_episode(env, lambda obs: 0, seed=0, max_t=5)
    finally:
        env.close()


def test_pixelcopter_frames_upscale_to_288(tmp_path):
    pytest.importorskip("hubpg.envs.pixelcopter")
    spec = gym.spec("Pixelcopter-PLE-v0")
    env = gym.make(spec.id, render_mode="rgb_array")
    try:
        if "rgb_array" not in env.metadata.get("render_modes", []):
            pytest.skip("Pixelcopter-PLE-v0 does not render rgb_array yet")
        frames, _, length = record_episode(env, lambda obs: 1, seed=0, max_t=20)
    finally:
        env.close()
    assert frames[0].shape == (48, 48, 3) and len(frames) == length + 1
    meta, decoded = _decode(write_mp4(frames, tmp_path / "px.mp4", fps=30))
    assert meta["size"] == (288, 288) and len(decoded) == len(frames)


def test_upscale_48_is_exact_nearest_neighbour():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
    big = upscale(frame)
    assert big.shape == (288, 288, 3) and big.dtype == np.uint8
    for a in range(6):
        for b in range(6):
            assert np.array_equal(big[a::6, b::6], frame)  # every 6x6 block is one source pixel


def test_upscale_pads_cartpole_to_multiples_of_16_with_edge_pixels():
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (400, 600, 3), dtype=np.uint8)
    out = upscale(frame)
    assert out.shape == (400, 608, 3)
    assert np.array_equal(out[:, 4:604], frame)  # content centred, untouched
    assert np.array_equal(out[:, :4], np.repeat(frame[:, :1], 4, axis=1))
    assert np.array_equal(out[:, 604:], np.repeat(frame[:, -1:], 4, axis=1))


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ((48, 48, 3), (288, 288)),
        ((400, 600, 3), (400, 608)),
        ((210, 160, 3), (432, 320)),  # Atari: x2 gives 420x320, padded to 432x320
        ((1, 1, 3), (256, 256)),
        ((17, 33), (272, 528)),  # grayscale, x16
        ((64, 64, 4), (256, 256)),  # RGBA, x4
    ],
)
def test_upscale_sizes(shape, expected):
    scale, out_h, out_w = output_size(shape[0], shape[1])
    frame = np.zeros(shape, dtype=np.uint8)
    out = upscale(frame)
    assert out.shape == (out_h, out_w, 3)
    assert out_h % 16 == 0 and out_w % 16 == 0
    assert min(shape[0], shape[1]) * scale >= 256
    assert out_h - shape[0] * scale < 16 and out_w - shape[1] * scale < 16
    assert (out_h, out_w) == expected


def test_upscale_rejects_non_images():
    with pytest.raises(VideoError, match="uint8"):
        upscale(np.zeros((48, 48, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="HxWx3"):
        upscale(np.zeros((48, 48, 2), dtype=np.uint8))


def test_write_zero_frames_raises_and_leaves_no_file(tmp_path):
    with pytest.raises(VideoError, match="no frames.*--no-video"):
        write_mp4([], tmp_path / "replay.mp4")
    assert list(tmp_path.iterdir()) == []


def test_write_into_unwritable_location_raises(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    frames = [np.zeros((48, 48, 3), np.uint8)]
    with pytest.raises(VideoError, match="cannot write the replay video"):
        write_mp4(frames, blocker / "replay.mp4")
    if hasattr(os, "geteuid") and os.geteuid() != 0:  # root ignores permissions
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            with pytest.raises(VideoError, match="writable"):
                write_mp4(frames, locked / "replay.mp4")
        finally:
            locked.chmod(0o700)


def test_write_rejects_frames_of_changing_size_and_keeps_old_file(tmp_path):
    target = tmp_path / "replay.mp4"
    target.write_bytes(b"old")
    frames = [np.zeros((48, 48, 3), np.uint8), np.zeros((40, 48, 3), np.uint8)]
    with pytest.raises(VideoError, match="same size"):
        write_mp4(frames, target)
    assert target.read_bytes() == b"old"  # never a partial video at the target
    assert sorted(p.name for p in tmp_path.iterdir()) == ["replay.mp4"]


def test_write_streams_a_generator_and_replaces_the_target(tmp_path):
    target = tmp_path / "sub" / "replay.mp4"
    target.parent.mkdir()
    target.write_bytes(b"old")
    gen = (np.full((48, 48, 3), i * 20, np.uint8) for i in range(12))
    write_mp4(gen, target, fps=30)
    meta, decoded = _decode(target)
    assert len(decoded) == 12 and meta["size"] == (288, 288)
    assert abs(int(decoded[5][100, 100, 0]) - 100) <= 3


def test_write_rejects_bad_fps(tmp_path):
    with pytest.raises(VideoError, match="fps"):
        write_mp4([np.zeros((48, 48, 3), np.uint8)], tmp_path / "a.mp4", fps=0)
    assert list(tmp_path.iterdir()) == []


def test_env_fps(cartpole):
    assert env_fps(cartpole) == 50.0

    class NoMeta:
        metadata: dict = {}

    assert env_fps(NoMeta()) == 30.0


def test_refuses_a_system_ffmpeg(tmp_path, monkeypatch):
    import imageio_ffmpeg

    monkeypatch.delenv("IMAGEIO_FFMPEG_EXE", raising=False)
    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", lambda: "/usr/bin/ffmpeg")
    with pytest.raises(VideoError, match="reinstall imageio-ffmpeg"):
        write_mp4([np.zeros((48, 48, 3), np.uint8)], tmp_path / "a.mp4")
    assert list(tmp_path.iterdir()) == []


def test_truncated_mp4_is_detected(tmp_path):
    from hubpg.video import _check_mp4

    path = write_mp4([np.zeros((48, 48, 3), np.uint8)] * 3, tmp_path / "a.mp4")
    _check_mp4(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 10])
    with pytest.raises(VideoError, match="incomplete"):
        _check_mp4(path)
