"""Replay videos: play one episode, upscale its frames, encode them as an mp4.

The mp4 is H.264 (libx264, yuv420p, ``+faststart``: it plays in every browser),
encoded by imageio with the ffmpeg of the ``imageio-ffmpeg`` wheel (a system ffmpeg
only if ``IMAGEIO_FFMPEG_EXE`` names one). Nothing needs a display. Every failure
raises :class:`VideoError` with one line saying what failed and what to do.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from hubpg.errors import FrameError, VideoError, one_line
from hubpg.runfolder import atomic_path

#: Frame sides are padded to a multiple of this (H.264 macroblocks; imageio's default).
MACRO_BLOCK = 16
#: libx264 speed/size trade-off: a 500-frame CartPole episode encodes in about 0.5 s.
PRESET = "veryfast"
#: libx264 constant rate factor (0 lossless .. 51 worst; 23 is x264's default).
CRF = 23

_NO_VIDEO_HINT = "pass --no-video to package without a video"


def _quiet_headless_pygame() -> None:
    """Keep pygame-rendered envs from printing to stdout (its greeting would corrupt
    ``--json`` output) or needing a display (``rgb_array`` never draws to one)."""
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")


def _render(env: Any) -> np.ndarray:
    try:
        frame = env.render()
    except Exception as exc:  # e.g. gymnasium.error.DependencyNotInstalled (pygame)
        first = one_line(exc, limit=None)
        raise VideoError(
            f"rendering the env failed ({first}); install what it names, or {_NO_VIDEO_HINT}"
        ) from exc
    if frame is None:
        raise VideoError(
            "env.render() returned no frame; make the env with render_mode='rgb_array', "
            f"or {_NO_VIDEO_HINT}"
        )
    return np.asarray(frame)


def record_episode(
    env: Any, act: Callable[[np.ndarray], int], seed: int, max_t: int
) -> tuple[list[np.ndarray], float, int]:
    """Play one episode of ``env`` and keep every rendered frame (after the reset and
    after every step); it stops when it ends or after ``max_t`` steps.

    Args:
        env: a Gymnasium env made with ``render_mode="rgb_array"`` (not closed here).
        act: chooses the action for an observation.
        seed: the seed of the reset.
        max_t: cap on the episode's steps.

    Returns ``(frames, episode_return, length)``; ``len(frames) == length + 1``.
    """
    if max_t < 1:
        raise VideoError(f"max_t must be at least 1 to record an episode (got {max_t})")
    mode = getattr(env, "render_mode", None)
    if mode != "rgb_array":
        raise VideoError(
            f"the env renders in mode {mode!r}, not 'rgb_array'; make it with "
            f"render_mode='rgb_array' to record a video, or {_NO_VIDEO_HINT}"
        )
    _quiet_headless_pygame()
    obs, _ = env.reset(seed=int(seed))
    frames = [_render(env)]
    total = 0.0
    length = 0
    while length < max_t:
        action = act(obs)  # an index, or a box policy's action vector
        if np.ndim(action) == 0:
            action = int(action)
        obs, reward, terminated, truncated, _ = env.step(action)
        total += float(reward)
        length += 1
        frames.append(_render(env))
        if terminated or truncated:
            break
    return frames, total, length


def _as_rgb(frame: Any) -> np.ndarray:
    """Check and convert one frame to a uint8 HxWx3 array (gray and RGBA accepted)."""
    arr = np.asarray(frame)
    if arr.dtype != np.uint8:
        raise FrameError(
            f"video frames must be uint8 images, got dtype {arr.dtype}; render with "
            f"render_mode='rgb_array', or {_NO_VIDEO_HINT}"
        )
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        arr = np.stack([arr, arr, arr], axis=2)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise FrameError(
            f"video frames must be HxWx3 RGB images, got shape {np.shape(frame)}; "
            f"render with render_mode='rgb_array', or {_NO_VIDEO_HINT}"
        )
    return arr


def output_size(height: int, width: int, min_side: int = 256) -> tuple[int, int, int]:
    """``(scale, out_height, out_width)`` that :func:`upscale` gives a ``height`` x ``width``
    frame: the smallest integer scale bringing the short side to ``min_side`` (at least 1),
    the scaled sides rounded up to a multiple of 16."""
    if height < 1 or width < 1:
        raise FrameError(f"video frames must not be empty (got {height}x{width})")
    scale = max(1, math.ceil(int(min_side) / min(height, width)))
    out_h = -(-height * scale // MACRO_BLOCK) * MACRO_BLOCK
    out_w = -(-width * scale // MACRO_BLOCK) * MACRO_BLOCK
    return scale, out_h, out_w


def upscale(frame: np.ndarray, min_side: int = 256) -> np.ndarray:
    """Upscale ``frame`` for encoding: each pixel a ``k`` x ``k`` block (:func:`output_size`),
    then the edges repeated to sides that are multiples of 16 (what libx264 encodes
    without resizing), the content centred: 48x48 becomes 288x288, 400x600 400x608.
    Returns a new uint8 HxWx3 array.
    """
    arr = _as_rgb(frame)
    h, w = arr.shape[:2]
    scale, out_h, out_w = output_size(h, w, min_side)
    if scale > 1:
        arr = np.repeat(np.repeat(arr, scale, axis=0), scale, axis=1)
    pad_h, pad_w = out_h - h * scale, out_w - w * scale
    if pad_h or pad_w:
        arr = np.pad(
            arr,
            ((pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)),
            mode="edge",
        )
    return np.ascontiguousarray(arr)


def _bundled_ffmpeg() -> str:
    """The ffmpeg executable imageio will run; refuse a system ffmpeg found on PATH."""
    try:
        import imageio_ffmpeg
    except ImportError as exc:
        raise VideoError(
            f"imageio-ffmpeg is not installed; pip install imageio-ffmpeg, or {_NO_VIDEO_HINT}"
        ) from exc
    try:
        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as exc:
        raise VideoError(
            "imageio-ffmpeg has no ffmpeg binary; reinstall it "
            f"(pip install --force-reinstall imageio-ffmpeg), or {_NO_VIDEO_HINT}"
        ) from exc
    if os.environ.get("IMAGEIO_FFMPEG_EXE"):
        return exe  # the user named an ffmpeg explicitly
    bundled = Path(imageio_ffmpeg.__file__).resolve().parent / "binaries"
    if not Path(exe).resolve().is_relative_to(bundled):
        raise VideoError(
            f"imageio-ffmpeg's own ffmpeg binary is missing (it would fall back to {exe}); "
            f"reinstall imageio-ffmpeg (pip install --force-reinstall imageio-ffmpeg), "
            f"or {_NO_VIDEO_HINT}"
        )
    return exe


def _check_mp4(path: Path) -> None:
    """Raise unless ``path`` is a complete MP4: top-level boxes tiling the file, with moov and mdat."""
    size = path.stat().st_size
    seen = set()
    with path.open("rb") as f:
        pos = 0
        while pos < size:
            f.seek(pos)
            head = f.read(16)
            if len(head) < 8:
                break
            box_size = int.from_bytes(head[:4], "big")
            kind = head[4:8]
            if box_size == 1 and len(head) == 16:
                box_size = int.from_bytes(head[8:16], "big")
            elif box_size == 0:
                box_size = size - pos
            if box_size < 8 or pos + box_size > size:
                break
            seen.add(kind)
            pos += box_size
    if pos != size or not {b"ftyp", b"moov", b"mdat"} <= seen:
        raise VideoError(
            f"ffmpeg wrote an incomplete mp4 ({size} bytes); check free disk space, or {_NO_VIDEO_HINT}"
        )


def write_mp4(
    frames: Iterable[np.ndarray],
    path: str | os.PathLike[str],
    fps: float = 30,
    min_side: int = 256,
    *,
    crf: int = CRF,
    preset: str = PRESET,
) -> Path:
    """Encode ``frames`` (uint8 HxWx3, all the same size; any iterable) as an H.264 mp4
    at ``path``, each through :func:`upscale` (``min_side``). Written atomically, parent
    folders created; returns ``path`` as a :class:`Path`.

    Raises :class:`VideoError` when there are no frames, a frame is not an image or
    changes size, the folder is not writable, or ffmpeg fails.
    """
    path = Path(path)
    rate = _positive_number(fps)
    if rate is None:
        raise VideoError(f"fps must be a positive number of frames per second (got {fps!r})")
    exe = _bundled_ffmpeg()  # fail before touching the file system
    n = 0
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # a clear error for unwritable folders before ffmpeg starts; removed on any failure
        with atomic_path(path) as tmp:
            try:
                import imageio.v2 as iio

                writer = None
                first_shape: tuple[int, ...] | None = None
                try:
                    for frame in frames:
                        arr = np.asarray(frame)
                        if first_shape is None:
                            first_shape = arr.shape
                        elif arr.shape != first_shape:
                            raise FrameError(
                                f"video frame {n} has shape {arr.shape} but frame 0 has "
                                f"{first_shape}; all frames of a video must have the same "
                                f"size, or {_NO_VIDEO_HINT}"
                            )
                        image = upscale(arr, min_side)
                        if writer is None:
                            writer = iio.get_writer(
                                tmp,
                                format="FFMPEG",
                                mode="I",
                                fps=rate,
                                codec="libx264",
                                pixelformat="yuv420p",
                                quality=None,  # rate control comes from -crf below
                                macro_block_size=MACRO_BLOCK,  # sizes are multiples: no resizing
                                ffmpeg_log_level="error",  # stderr only, and only on real errors
                                output_params=[
                                    *("-preset", preset, "-crf", str(int(crf))),
                                    *("-movflags", "+faststart", "-f", "mp4"),
                                ],
                            )
                        writer.append_data(image)
                        n += 1
                finally:
                    if writer is not None:
                        writer.close()
                if n == 0:
                    raise VideoError(
                        f"no frames to encode for {path}; record at least one frame, or "
                        f"{_NO_VIDEO_HINT}"
                    )
                _check_mp4(tmp)
            except VideoError:
                raise
            except Exception as exc:  # the encoder's failures (OSError included) are one
                first = one_line(exc, limit=None)
                if "Broken pipe" in first:
                    first = "ffmpeg stopped early; its own error is printed above"
                raise VideoError(
                    f"encoding the replay video with {Path(exe).name} failed after {n} frames "
                    f"({first}); {_NO_VIDEO_HINT}"
                ) from exc
    except OSError as exc:  # the folder, the temporary file or the rename
        raise VideoError(
            f"cannot write the replay video to {path} ({exc.strerror or exc}); "
            f"choose a writable output folder, or {_NO_VIDEO_HINT}"
        ) from exc
    return path


def env_fps(env: Any, default: float = 30) -> float:
    """The env's own playback rate (``metadata["render_fps"]``), else ``default``."""
    meta = getattr(env, "metadata", None) or {}
    fps = _positive_number(meta.get("render_fps"))
    return float(default) if fps is None else fps


def _positive_number(value: Any) -> float | None:
    """``value`` as a finite positive float, else None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None
