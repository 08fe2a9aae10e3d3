"""Pixelcopter, the PyGame Learning Environment (PLE) game, as a Gymnasium env.

An exact re-implementation of ``gym_pygame``'s ``Pixelcopter-PLE-v0`` (same seed and
actions, same observations, rewards and terminations; rules in ``docs/pixelcopter.md``):
:class:`PixelcopterEnv` plays one game, :class:`PixelcopterVectorEnv` many with numpy.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from hubpg.errors import ConfigError

__all__ = ["MIN_HEIGHT", "MIN_WIDTH", "PixelcopterEnv", "PixelcopterVectorEnv"]

#: Smallest screen width: from 40 up the cave walls are under the copter at every frame
#: (at 25-29 and 39 they leave a gap, where the original game crashes).
MIN_WIDTH = 40
#: Smallest screen height: below 20 the copter is 0 px tall and collides with nothing.
MIN_HEIGHT = 20

_FPS = 30
_DT = 1000.0 / _FPS  # PLE's forced frame time in ms
_DEFAULT_SEED = 24  # PLE's default RandomState seed
_REFILL_AT = 13  # add a terrain batch when this many columns or fewer remain
_NO_GATE = 999  # next_gate_dist_to_player when no block is ahead
_LOSS = -5.0
_GREEN = (120, 240, 80)
_WHITE = (255, 255, 255)


def _rnd(v: float) -> int:
    """Round half away from zero, exactly as pygame places a rect's centre."""
    t = int(v)
    f = v - t  # exact
    if f >= 0.5:
        return t + 1
    if f <= -0.5:
        return t - 1
    return t


def _rnd_array(v: np.ndarray) -> np.ndarray:
    """:func:`_rnd` on an array (float result holding integers)."""
    t = np.trunc(v)
    f = v - t
    return t + (f >= 0.5) - (f <= -0.5)


def _mask(rng: int) -> int:
    """Smallest all-ones bit mask covering ``rng`` (numpy's masked rejection sampling)."""
    m = rng
    for s in (1, 2, 4, 8, 16):
        m |= m >> s
    return m


def _check_size(width: Any, height: Any) -> tuple[int, int]:
    for name, value, low in (("width", width, MIN_WIDTH), ("height", height, MIN_HEIGHT)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ConfigError(f"Pixelcopter {name} must be an integer, got {value!r}")
        if value < low:
            raise ConfigError(
                f"Pixelcopter {name} must be at least {low}, got {value}. "
                "Smaller screens do not give a well-defined game: below width 40 some widths "
                "leave gaps in the cave walls, and below 20 px the copter has no size"
            )
    return int(width), int(height)


def _positive_int(name: str, value: Any, alternative: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} must be a positive integer{alternative}, got {value!r}")
    return int(value)


def _check_render_mode(render_mode: Any, allowed: Sequence[str]) -> None:
    if render_mode is not None and render_mode not in allowed:
        choices = ", ".join(repr(m) for m in (None, *allowed))
        raise ConfigError(
            f"unsupported render_mode {render_mode!r} for Pixelcopter; use one of {choices}"
        )


class _Geometry:
    """Every constant of one screen size, computed with the original's float operations."""

    def __init__(self, width: int, height: int) -> None:
        W, H = width, height
        self.width, self.height = W, H
        speed = 0.0004 * W
        self.d = speed * _DT  # scroll per frame
        self.climb_dt = (speed * -0.875) * _DT
        self.fall_dt = (speed * 0.09) * _DT
        self.half = H / 2.0
        self.quarter = H * 0.25
        self.amp = H * 0.125
        self.freq0 = 4.5 / W
        self.ceil_lim = H * 0.125
        self.floor_lim = H * 0.875
        # the copter: x fixed, float height for the ceiling test, integer rect
        self.px = int(W * 0.35)
        self.phf = H * 0.05
        self.cw, self.ch = int(W * 0.05), int(H * 0.05)
        self.cl = self.px - self.cw // 2
        self.cr = self.cl + self.cw
        self.ch_half = self.ch // 2
        # blocks
        self.bw, self.bh = int(W * 0.1), int(H * 0.2)
        self.bw_half, self.bh_half = self.bw // 2, self.bh // 2
        self.bx_low, self.bx_high = W, int(W * 1.5)
        self.by_low, self.by_high = int(H * 0.25), int(H * 0.75)
        # terrain columns
        self.tw, self.th = int(W * 0.1), int(H * 1.5)
        self.tw_half, self.th_half = self.tw // 2, self.th // 2
        c = int(self.tw / 2)
        self.first_steps = list(range(c, 4 * W + c, self.tw))
        self.refill_steps = list(range(W + c, 5 * W + c, self.tw))
        self.k = len(self.first_steps)
        # a column overlaps the copter horizontally iff its rounded centre is in [ovl_a, ovl_b]
        self.ovl_a = self.cl - self.tw + self.tw_half + 1
        self.ovl_b = self.cr + self.tw_half - 1
        self.cand_lo, self.cand_hi = self.ovl_a - 1.0, self.ovl_b + 1.0  # loose prefilter
        # drawing the terrain surface: truncated like pygame.draw.rect with floats
        self.t_top_h = int(H * 0.5)
        self.t_bot_y = int(H * 1.05)
        # first column (in order) over the copter at a game's start
        self.k_start = next(
            i for i, s in enumerate(self.first_steps) if self.ovl_a <= s <= self.ovl_b
        )
        assert len(self.refill_steps) == self.k and self.tw > self.d
        assert self.bx_high > self.bx_low + 1 and self.by_high > self.by_low + 1


# ----------------------------------------------------------------------------------
# Drawing (numpy, no pygame)


def _fill(frame: np.ndarray, x0: int, y0: int, w: int, h: int, colour: tuple) -> None:
    H, W = frame.shape[:2]
    xa, xb = max(x0, 0), min(x0 + w, W)
    ya, yb = max(y0, 0), min(y0 + h, H)
    if xa < xb and ya < yb:
        frame[ya:yb, xa:xb] = colour


def _draw(
    g: _Geometry,
    y: float,
    blocks: Sequence[tuple[float, float]],
    columns: Sequence[tuple[float, float]],
) -> np.ndarray:
    """One H x W x 3 frame: black, the copter white, then blocks and terrain green."""
    frame = np.zeros((g.height, g.width, 3), dtype=np.uint8)
    _fill(frame, g.cl, _rnd(y) - g.ch_half, g.cw, g.ch, _WHITE)
    for bx, by in blocks:
        _fill(frame, _rnd(bx) - g.bw_half, int(by) - g.bh_half, g.bw, g.bh, _GREEN)
    for tx, ty in columns:
        left, top = _rnd(tx) - g.tw_half, int(ty) - g.th_half
        _fill(frame, left, top, g.tw, min(g.t_top_h, g.th), _GREEN)
        bot_h = min(g.t_bot_y + g.t_top_h, g.th) - g.t_bot_y
        if bot_h > 0:
            _fill(frame, left, top + g.t_bot_y, g.tw, bot_h, _GREEN)
    return frame


class _HumanWindow:
    """A pygame window showing frames scaled up (pygame imported only here)."""

    def __init__(self, width: int, height: int, fps: int) -> None:
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        try:
            import pygame
        except ImportError as e:  # pragma: no cover - depends on the install
            raise ConfigError(
                "render_mode='human' needs pygame; install it with pip install 'hubpg[human]' "
                "or use render_mode='rgb_array'"
            ) from e
        self.pygame = pygame
        self.scale = max(1, 480 // max(width, height))
        try:
            pygame.display.init()
            self.window = pygame.display.set_mode((width * self.scale, height * self.scale))
        except pygame.error as e:  # pragma: no cover - depends on the machine
            raise ConfigError(
                f"render_mode='human' could not open a window ({e}); "
                "use render_mode='rgb_array' on a machine without a display"
            ) from e
        pygame.display.set_caption("Pixelcopter-PLE-v0")
        self.clock = pygame.time.Clock()
        self.fps = fps

    def show(self, frame: np.ndarray) -> None:
        pg = self.pygame
        big = np.repeat(np.repeat(frame, self.scale, axis=0), self.scale, axis=1)
        self.window.blit(pg.surfarray.make_surface(big.swapaxes(0, 1)), (0, 0))
        pg.event.pump()
        pg.display.flip()
        self.clock.tick(self.fps)

    def close(self) -> None:
        self.pygame.display.quit()


# ----------------------------------------------------------------------------------
# The single env


class PixelcopterEnv(gym.Env[np.ndarray, int]):
    """
    ## Description

    PLE's Pixelcopter: a copter flies through a cave that scrolls to the left. Thrust
    pushes it up, gravity pulls it down; it must not touch the cave's ceiling or floor
    (columns 0.1 W wide whose height follows a noisy sine) nor the single block (a
    "gate") in the cave. Exactly the game behind ``gym_pygame``'s ``Pixelcopter-PLE-v0``
    (the Deep RL course's). One step is one game frame of 1000/30 ms.

    ## Action Space

    ``Discrete(2)``, in the order of ``gym_pygame``'s action set:

    - 0: thrust (climb) for this frame
    - 1: do nothing (fall)

    Any other action raises a ``ValueError`` (:class:`hubpg.errors.ConfigError`).

    ## Observation Space

    A ``float32`` array of shape ``(7,)``, raw game quantities in pixels (no
    normalisation), ``Box(-inf, inf, (7,))``:

    | Num | Observation               | Meaning                                              |
    |-----|---------------------------|------------------------------------------------------|
    | 0   | player_y                  | the copter's y (0 at the top, H / 2 at the start)    |
    | 1   | player_vel                | its momentum, px per frame (positive is down)        |
    | 2   | player_dist_to_ceil       | y - (y_c - 0.25 H)                                   |
    | 3   | player_dist_to_floor      | (y_c + 0.25 H) - y                                   |
    | 4   | next_gate_dist_to_player  | x distance to the nearest block ahead, or 999        |
    | 5   | next_gate_block_top       | that block's centre y (the original's naming)        |
    | 6   | next_gate_block_bottom    | that block's centre y + int(0.2 H)                   |

    ``y_c`` is the centre of the first cave column (in creation order) under the copter.

    ## Rewards, Starting State, Episode End

    +1 whenever a cave column leaves the screen or the copter passes the block, -5 on
    the frame it crashes (a step can return -4). The copter starts at y = H / 2 with a
    random block and cave. Termination when it touches a block, the ceiling or floor,
    or leaves [0.125 H, 0.875 H]; no truncation (cap episodes yourself). A step after
    termination returns the same observation, reward 0, terminated.

    ## Arguments

    - ``width=48``, ``height=48``: screen size in pixels (at least ``MIN_WIDTH`` = 40
      and ``MIN_HEIGHT`` = 20, where the original game is defined).
    - ``render_mode``: ``None``, ``"rgb_array"`` (an H x W x 3 ``uint8`` frame) or
      ``"human"`` (a pygame window; pygame is imported only then).

    ## Seeding

    As the original: ``reset(seed=s)`` is its ``seed(s)`` then ``reset()`` (a fresh
    ``RandomState(s)``, one game thrown away, then the game played); ``reset()`` plays
    the next game on the same stream (before any seed, ``RandomState(24)`` with two
    games drawn). The full rules are in ``docs/pixelcopter.md``.
    """

    metadata = {"render_modes": ["human", "rgb_array"], "render_fps": _FPS}

    def __init__(self, width: int = 48, height: int = 48, render_mode: str | None = None) -> None:
        width, height = _check_size(width, height)
        _check_render_mode(render_mode, self.metadata["render_modes"])
        self.render_mode = render_mode
        self._g = _Geometry(width, height)
        self.action_space = spaces.Discrete(2)
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(7,), dtype=np.float32)
        self._window: _HumanWindow | None = None
        self._rng = np.random.RandomState(_DEFAULT_SEED)
        self._init_game()
        self._init_game()
        self._obs = self._observe(self._g.half)
        self._terminated = False

    # -- game state ------------------------------------------------------------
    def _new_block(self) -> list:
        g, rng = self._g, self._rng
        x = int(rng.randint(g.bx_low, g.bx_high))
        y = int(rng.randint(g.by_low, g.by_high))
        return [float(x), y]

    def _add_terrain(self, steps: list[int]) -> None:
        g, rng = self._g, self._rng
        freq = g.freq0 + rng.uniform(-0.01, 0.01)
        phases = rng.uniform(0.0, 0.5, len(steps)).tolist()
        half, amp, sin = g.half, g.amp, math.sin
        self._tx += [float(s) for s in steps]
        self._ty += [
            int(half + amp * sin(freq * s + p)) for s, p in zip(steps, phases, strict=True)
        ]

    def _init_game(self) -> None:
        g = self._g
        self._y = g.half
        self._mom = 0.0
        self._blocks: list[list] = [self._new_block()]
        self._tx: list[float] = []
        self._ty: list[int] = []
        self._add_terrain(g.first_steps)

    def _observe(self, yc: float) -> np.ndarray:
        g, y = self._g, self._y
        dist, top = _NO_GATE, 0
        for bx, by in self._blocks:
            dd = bx - g.px
            if 0 < dd < dist:
                dist, top = dd, by
        bottom = top + g.bh if dist != _NO_GATE else 0
        q = g.quarter
        return np.array([y, self._mom, y - (yc - q), (yc + q) - y, dist, top, bottom], np.float32)

    # -- Gymnasium API -----------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None:
            self._rng = np.random.RandomState(seed)
            self._init_game()  # the original's seed() inits a game that is never played
        self._init_game()
        self._terminated = False
        g = self._g
        self._obs = self._observe(self._ty[g.k_start])
        if self.render_mode == "human":
            self.render()
        return self._obs.copy(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if action not in (0, 1):
            raise ConfigError(
                f"invalid Pixelcopter action {action!r}: use 0 (thrust) or 1 (do nothing)"
            )
        if self._terminated:
            return self._obs.copy(), 0.0, True, False, {}
        g = self._g
        mom = (self._mom + (g.climb_dt if action == 0 else g.fall_dt)) * 0.99
        y = self._y + mom
        self._mom, self._y = mom, y
        copter_top = _rnd(y) - g.ch_half
        copter_bottom = copter_top + g.ch
        dead = self._move_blocks(copter_top, copter_bottom)
        column_x = [x - g.d for x in self._tx]
        yc, hit = self._terrain_hit(column_x, y, copter_top, copter_bottom)
        dead |= hit
        reward = self._pass_blocks()
        reward += self._drop_columns(column_x)
        if y < g.ceil_lim or y > g.floor_lim:
            dead = True
        if len(self._tx) <= _REFILL_AT:
            self._add_terrain(g.refill_steps)
        if dead:
            reward += _LOSS
            self._terminated = True
        self._obs = self._observe(g.half if yc is None else yc)
        if self.render_mode == "human":
            self.render()
        return self._obs.copy(), reward, dead, False, {}

    def _move_blocks(self, ctop: int, cbot: int) -> bool:
        """Scroll the blocks; whether one overlaps the copter's rect."""
        g = self._g
        dead = False
        for b in self._blocks:
            b[0] = x = b[0] - g.d
            left = _rnd(x) - g.bw_half
            if left < g.cr and left + g.bw > g.cl:
                top = b[1] - g.bh_half
                if top < cbot and top + g.bh > ctop:
                    dead = True
        return dead

    def _terrain_hit(
        self, tx: list[float], y: float, ctop: int, cbot: int
    ) -> tuple[float | None, bool]:
        """The centre y of the first column over the copter (the observation's), and
        whether the copter touches the ceiling or floor of a column over it."""
        g = self._g
        yc = None
        dead = False
        for x, column_y in zip(tx, self._ty, strict=True):
            if not (g.cand_lo < x < g.cand_hi and g.ovl_a <= _rnd(x) <= g.ovl_b):
                continue
            top = column_y - g.th_half
            if top < cbot and top + g.th > ctop:
                if yc is None:
                    yc = column_y
                if y - g.phf <= column_y - g.quarter or y >= column_y + g.quarter:
                    dead = True
        return yc, dead

    def _pass_blocks(self) -> float:
        """Passing the block spawns the next (reward 1); blocks off screen go."""
        g = self._g
        blocks = self._blocks
        reward = 0.0
        for b in list(blocks):
            if b[0] <= g.px and len(blocks) == 1:
                reward += 1.0
                blocks.append(self._new_block())
            if b[0] <= -g.bw:
                blocks[:] = [c for c in blocks if c is not b]
        return reward

    def _drop_columns(self, tx: list[float]) -> float:
        """Store the scrolled columns ``tx``, without those that left the screen
        (reward 1 each)."""
        lim = -self._g.tw
        reward = 0.0
        if min(tx) <= lim:
            keep = [i for i, x in enumerate(tx) if x > lim]
            reward += len(tx) - len(keep)
            tx = [tx[i] for i in keep]
            self._ty = [self._ty[i] for i in keep]
        self._tx = tx
        return reward

    def render(self) -> np.ndarray | None:
        """The current frame (``"rgb_array"``), or show it in a window (``"human"``)."""
        if self.render_mode is None:
            gym.logger.warn(
                "render() called without a render_mode; make the env with "
                'render_mode="rgb_array" or "human"'
            )
            return None
        frame = _draw(self._g, self._y, self._blocks, list(zip(self._tx, self._ty, strict=True)))
        if self.render_mode == "rgb_array":
            return frame
        if self._window is None:
            self._window = _HumanWindow(self._g.width, self._g.height, self.metadata["render_fps"])
        self._window.show(frame)
        return None

    def close(self) -> None:
        if self._window is not None:
            self._window.close()
            self._window = None


# ----------------------------------------------------------------------------------
# numpy's legacy RandomState (MT19937), batched: one independent stream per sub-env

_MT_N = 624
_MT_M = 397
_UPPER = np.uint32(0x80000000)
_LOWER = np.uint32(0x7FFFFFFF)
_MATRIX_A = np.uint32(0x9908B0DF)
_U_LOW = -0.01
_U_RANGE = 0.01 - -0.01  # RandomState.uniform(low, high) draws low + (high - low) * u


def _mt_twist(mt: np.ndarray) -> None:
    """MT19937's state transition on each row of ``mt`` (rows x 624 uint32), in place."""
    n, m = _MT_N, _MT_M
    for i0, i1, src in ((0, n - m, m), (n - m, 2 * (n - m), 0), (2 * (n - m), n - 1, n - m)):
        y = (mt[:, i0:i1] & _UPPER) | (mt[:, i0 + 1 : i1 + 1] & _LOWER)
        mt[:, i0:i1] = mt[:, src : src + i1 - i0] ^ (y >> 1) ^ ((y & 1) * _MATRIX_A)
    y = (mt[:, n - 1] & _UPPER) | (mt[:, 0] & _LOWER)
    mt[:, n - 1] = mt[:, m - 1] ^ (y >> 1) ^ ((y & 1) * _MATRIX_A)


def _mt_temper(y: np.ndarray) -> np.ndarray:
    y = y ^ (y >> 11)
    y = y ^ ((y << 7) & 0x9D2C5680)
    y = y ^ ((y << 15) & 0xEFC60000)
    return y ^ (y >> 18)


@functools.lru_cache(maxsize=8192)
def _seeded_state(seed: int) -> tuple[np.ndarray, int]:
    """``RandomState(seed)``'s MT19937 key (read-only) and position: made once per seed
    (a leaderboard resets thousands of sub-envs with the same evaluation seeds)."""
    _, key, pos, *_ = np.random.RandomState(seed).get_state()
    key = np.asarray(key, dtype=np.uint32)
    key.flags.writeable = False
    return key, int(pos)


class _MTBatch:
    """Independent MT19937 streams that produce exactly ``numpy.random.RandomState``'s words.

    Each row keeps the tempered outputs of its current and next state blocks, so any
    row can look up to 624 words ahead (``peek``) and then consume how many it used
    (``advance``); draws with rejection sampling are done on a whole batch of rows.
    """

    def __init__(self, n: int) -> None:
        self.out = np.zeros((n, 2 * _MT_N), dtype=np.uint32)
        self.raw = np.zeros((n, _MT_N), dtype=np.uint32)  # the raw state of out[:, 624:]
        self.pos = np.zeros(n, dtype=np.int64)
        self._ar = np.arange(_MT_N)

    def seed(self, idx: np.ndarray, seeds: Sequence[int]) -> None:
        states = [_seeded_state(int(s)) for s in seeds]
        keys = np.stack([key for key, _ in states])
        pos = np.array([at for _, at in states], dtype=np.int64)
        nxt = keys.copy()
        _mt_twist(nxt)
        self.out[idx, :_MT_N] = _mt_temper(keys)
        self.out[idx, _MT_N:] = _mt_temper(nxt)
        self.raw[idx] = nxt
        self.pos[idx] = pos
        self._roll(idx[pos >= _MT_N])

    def _roll(self, idx: np.ndarray) -> None:
        if idx.size:
            self.out[idx, :_MT_N] = self.out[idx, _MT_N:]
            nxt = self.raw[idx]
            _mt_twist(nxt)
            self.raw[idx] = nxt
            self.out[idx, _MT_N:] = _mt_temper(nxt)
            self.pos[idx] -= _MT_N

    def peek(self, idx: np.ndarray, n: int) -> np.ndarray:
        """The next ``n`` (<= 624) 32-bit words of each row in ``idx``, not consumed."""
        return self.out[idx[:, None], self.pos[idx][:, None] + self._ar[:n]]

    def advance(self, idx: np.ndarray, counts: np.ndarray | int) -> None:
        pos = self.pos[idx] + counts
        self.pos[idx] = pos
        self._roll(idx[pos >= _MT_N])


class _MTRows:
    """Some rows of an :class:`_MTBatch`, addressed 0..len(rows)-1 (the streams stay
    the batch's: what a part of the vector env draws advances them)."""

    def __init__(self, batch: _MTBatch, rows: np.ndarray) -> None:
        self.batch, self.rows, self._ar = batch, rows, batch._ar

    def seed(self, idx: np.ndarray, seeds: Sequence[int]) -> None:
        self.batch.seed(self.rows[idx], seeds)

    def peek(self, idx: np.ndarray, n: int) -> np.ndarray:
        return self.batch.peek(self.rows[idx], n)

    def advance(self, idx: np.ndarray, counts: np.ndarray | int) -> None:
        self.batch.advance(self.rows[idx], counts)


def _doubles(words: np.ndarray) -> np.ndarray:
    """RandomState's 53-bit doubles in [0, 1) from consecutive pairs of words."""
    a = (words[:, 0::2] >> 5).astype(np.float64)
    b = words[:, 1::2] >> 6
    return (a * 67108864.0 + b) / 9007199254740992.0


# ----------------------------------------------------------------------------------
# The vector env

_NO_BLOCK = 1e12  # x of an empty block slot: never reached, never collides
#: Each sub-env's state (one row per sub-env) besides its random stream: what
#: :meth:`PixelcopterVectorEnv.step` reads and writes.
_ROW_STATE = ("_y", "_mom", "_bx", "_by", "_tx", "_ty", "_tlo", "_ta", "_done", "_elapsed", "_yc")


class PixelcopterVectorEnv(VectorEnv):
    """``num_envs`` Pixelcopter games stepped together with numpy arrays.

    Each sub-env plays exactly what :class:`PixelcopterEnv` plays with the same seed
    and actions, bit for bit, its automatic resets included (its own random stream).

    Autoreset: Gymnasium's next-step mode; the step after a sub-env ended starts its
    next game, whatever the action (reward 0, ``terminated`` False).

    Seeding: ``reset(seed=S)`` seeds sub-env ``i`` with ``S + i``; ``reset(seed=[s0, s1,
    ...])`` each with its own (``None`` keeps its stream). Unseeded, each sub-env goes
    on with its own stream, which starts as the single env's default.

    Arguments: ``num_envs=1``, ``width=48``, ``height=48``, ``render_mode`` (``None`` or
    ``"rgb_array"``: a tuple of one frame per sub-env), ``max_episode_steps=None`` (a
    game is truncated after that many steps, as by ``TimeLimit``).
    """

    metadata = {
        "render_modes": ["rgb_array"],
        "render_fps": _FPS,
        "autoreset_mode": AutoresetMode.NEXT_STEP,
    }

    def __init__(
        self,
        num_envs: int = 1,
        width: int = 48,
        height: int = 48,
        render_mode: str | None = None,
        max_episode_steps: int | None = None,
    ) -> None:
        self.max_episode_steps = (
            None
            if max_episode_steps is None
            else _positive_int("max_episode_steps", max_episode_steps, " or None")
        )
        n = _positive_int("num_envs", num_envs)
        width, height = _check_size(width, height)
        _check_render_mode(render_mode, self.metadata["render_modes"])
        self.num_envs = n
        self.render_mode = render_mode
        self._g = g = _Geometry(width, height)
        self.single_action_space = spaces.Discrete(2)
        self.action_space = batch_space(self.single_action_space, n)
        self.single_observation_space = spaces.Box(-np.inf, np.inf, shape=(7,), dtype=np.float32)
        self.observation_space = batch_space(self.single_observation_space, n)

        k = g.k
        self._y = np.zeros(n)
        self._mom = np.zeros(n)
        self._bx = np.full((n, 2), _NO_BLOCK)  # slot 0 is the older block
        self._by = np.zeros((n, 2))
        self._tx = np.zeros((n, 2, k))  # two terrain batches, slot 0 the older
        self._ty = np.zeros((n, 2, k))
        self._tlo = np.zeros((n, 2), dtype=np.int64)  # first alive column of each batch
        self._ta = np.zeros((n, 2), dtype=bool)  # batch alive
        self._done = np.zeros(n, dtype=bool)
        self._elapsed = np.zeros(n, dtype=np.int64)  # steps of each sub-env's current game
        self._yc = np.zeros(n)
        self._rows = np.arange(n)
        self._base = (np.arange(2 * n, dtype=np.int64) * k).reshape(n, 2)
        self._ar_nc = np.arange(-(-(g.cw + g.tw - 1) // g.tw) + 1)  # candidate columns per batch
        self._first = np.array(g.first_steps, dtype=np.float64)
        self._refill = np.array(g.refill_steps, dtype=np.float64)

        self._mt = _MTBatch(n)
        self._mt.seed(self._rows, [_DEFAULT_SEED] * n)
        self._init_games(self._rows)
        self._init_games(self._rows)

    # -- random draws ------------------------------------------------------------
    def _draw_blocks(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """RandomState.randint(bx_low, bx_high) then randint(by_low, by_high) per row."""
        g = self._g
        range_x, range_y = g.bx_high - 1 - g.bx_low, g.by_high - 1 - g.by_low
        rows = np.arange(idx.size)
        n_words = 16
        while True:
            words = self._mt.peek(idx, n_words)
            x, y = words & _mask(range_x), words & _mask(range_y)
            x_ok = x <= range_x
            x_at = x_ok.argmax(1)
            y_ok = (y <= range_y) & (self._mt._ar[:n_words] > x_at[:, None])
            y_at = y_ok.argmax(1)
            if x_ok.any(1).all() and y_ok.any(1).all():
                break
            if n_words >= _MT_N:  # pragma: no cover - probability below 1e-300
                raise RuntimeError("rejection sampling ran out of words")
            n_words = min(4 * n_words, _MT_N)
        self._mt.advance(idx, y_at + 1)
        return g.bx_low + x[rows, x_at].astype(np.float64), g.by_low + y[rows, y_at].astype(
            np.float64
        )

    def _draw_terrain(self, idx: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """One terrain batch's column centres y for each row (freq, then one phase per column)."""
        g = self._g
        nw = 2 + 2 * steps.size
        u = _doubles(self._mt.peek(idx, nw))
        self._mt.advance(idx, nw)
        freq = g.freq0 + (_U_LOW + _U_RANGE * u[:, :1])
        arg = freq * steps + (0.0 + 0.5 * u[:, 1:])
        v = g.half + g.amp * np.sin(arg)
        # np.sin may differ from math.sin in the last bit: redo values next to an integer
        near = np.abs(v - np.rint(v)) < 1e-7
        if near.any():
            for i, j in zip(*np.nonzero(near), strict=True):
                v[i, j] = g.half + g.amp * math.sin(arg[i, j])
        return np.trunc(v)

    def _init_games(self, idx: np.ndarray) -> None:
        """A new game for each sub-env in ``idx``, drawn from its own stream."""
        if idx.size == 0:
            return
        g = self._g
        self._y[idx] = g.half
        self._mom[idx] = 0.0
        bx, by = self._draw_blocks(idx)
        self._bx[idx, 0] = bx
        self._by[idx, 0] = by
        self._bx[idx, 1] = _NO_BLOCK
        self._by[idx, 1] = 0.0
        ty = self._draw_terrain(idx, self._first)
        self._tx[idx, 0] = self._first
        self._ty[idx, 0] = ty
        self._ta[idx, 0] = True
        self._ta[idx, 1] = False
        self._tlo[idx] = 0
        self._yc[idx] = ty[:, g.k_start]

    # -- Gymnasium API -----------------------------------------------------------
    def reset(
        self,
        *,
        seed: int | Sequence[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        n = self.num_envs
        if seed is None:
            seeds: list[int | None] = [None] * n
            super().reset(seed=None)
        elif isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            seeds = [int(seed) + i for i in range(n)]
            super().reset(seed=int(seed))
        else:
            seeds = list(seed)
            if len(seeds) != n:
                raise ConfigError(f"reset got {len(seeds)} seeds for {n} sub-envs")
        seeded = np.array([i for i, s in enumerate(seeds) if s is not None], dtype=np.int64)
        if seeded.size:
            self._mt.seed(seeded, [int(seeds[i]) for i in seeded])  # type: ignore[arg-type]
            self._init_games(seeded)  # thrown away, as the original's seed()
        self._init_games(self._rows)
        self._done[:] = False
        self._elapsed[:] = 0
        return self._observe(), {}

    def _observe(self) -> np.ndarray:
        g = self._g
        y, yc, q = self._y, self._yc, g.quarter
        obs = np.empty((self.num_envs, 7), dtype=np.float32)
        obs[:, 0] = y
        obs[:, 1] = self._mom
        obs[:, 2] = y - (yc - q)
        obs[:, 3] = (yc + q) - y
        dist = self._bx - g.px
        ahead = (dist > 0) & (dist < _NO_GATE)  # a block ahead, in each slot
        use_second = ahead[:, 1] & (~ahead[:, 0] | (dist[:, 1] < dist[:, 0]))
        first_or_none = np.where(ahead[:, 0], dist[:, 0], float(_NO_GATE))
        obs[:, 4] = np.where(use_second, dist[:, 1], first_or_none)
        top = np.where(use_second, self._by[:, 1], np.where(ahead[:, 0], self._by[:, 0], 0.0))
        obs[:, 5] = top
        obs[:, 6] = np.where(ahead.any(1), top + g.bh, 0.0)
        return obs

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        thrust = self._thrust(actions)
        restarting = np.flatnonzero(self._done)  # ended last step: next-step autoreset
        playing = ~self._done
        copter_top, copter_bottom = self._move(thrust)
        crashed = self._block_hits(copter_top, copter_bottom)
        crashed |= self._terrain_hits(copter_top, copter_bottom)
        reward = np.zeros(self.num_envs)
        self._pass_blocks(playing, reward)
        reward += self._drop_columns()
        crashed |= (self._y < self._g.ceil_lim) | (self._y > self._g.floor_lim)
        self._refill_cave(playing)
        crashed &= playing
        truncated = self._end_games(crashed, playing, restarting, reward)
        return self._observe(), reward, crashed, truncated, {}

    def step_rows(
        self, actions: Any, rows: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """:meth:`step` of the sub-envs ``rows`` only (each plays exactly what :meth:`step`
        plays it); the other sub-envs stay as they are.

        Args:
            actions: one action per row of ``rows``.
            rows: indices of the sub-envs to step (distinct).

        Returns:
            :meth:`step`'s five values, for those sub-envs in that order.
        """
        rows = np.asarray(rows, dtype=np.int64)
        part = object.__new__(type(self))
        part.__dict__.update(self.__dict__)  # geometry and settings, shared
        part.num_envs = count = rows.size
        for name in _ROW_STATE:
            setattr(part, name, getattr(self, name)[rows])
        part._rows = np.arange(count)
        part._base = (np.arange(2 * count, dtype=np.int64) * self._g.k).reshape(count, 2)
        part._mt = _MTRows(self._mt, rows)
        result = part.step(actions)
        for name in _ROW_STATE:
            getattr(self, name)[rows] = getattr(part, name)
        return result

    def _end_games(
        self, crashed: np.ndarray, playing: np.ndarray, restarting: np.ndarray, reward: np.ndarray
    ) -> np.ndarray:
        """The crash penalty and the episodes' step counts (truncation, if capped), then
        the next-step autoreset of the sub-envs ``restarting`` (reward 0). Returns
        ``truncated``."""
        reward[crashed] += _LOSS
        self._elapsed = np.where(playing, self._elapsed + 1, 0)
        if self.max_episode_steps is None:
            truncated = np.zeros(self.num_envs, dtype=bool)
        else:
            truncated = ~crashed & (self._elapsed >= self.max_episode_steps)
        if restarting.size:
            reward[restarting] = 0.0
            self._init_games(restarting)
        self._done = crashed | truncated
        return truncated

    def _thrust(self, actions: Any) -> np.ndarray:
        """Whether each sub-env's action is thrust (0); anything but 0 or 1 raises."""
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,):
            raise ConfigError(
                f"expected {self.num_envs} actions (shape ({self.num_envs},)), "
                f"got shape {actions.shape}"
            )
        valid = (actions == 0) | (actions == 1)
        if not valid.all():
            raise ConfigError(
                f"invalid Pixelcopter action {actions[~valid][0]!r}: "
                "use 0 (thrust) or 1 (do nothing)"
            )
        return actions == 0

    def _move(self, thrust: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Move the copter, scroll the blocks and the cave; the copter rect's top and bottom."""
        g = self._g
        self._mom += np.where(thrust, g.climb_dt, g.fall_dt)
        self._mom *= 0.99
        self._y += self._mom
        self._bx -= g.d
        self._tx -= g.d
        copter_top = _rnd_array(self._y) - g.ch_half
        return copter_top, copter_top + g.ch

    def _block_hits(self, copter_top: np.ndarray, copter_bottom: np.ndarray) -> np.ndarray:
        """Whether a block overlaps the copter's rect, per sub-env."""
        g = self._g
        left = _rnd_array(self._bx) - g.bw_half
        top = self._by - g.bh_half
        return (
            (left < g.cr)
            & (left > g.cl - g.bw)
            & (top < copter_bottom[:, None])
            & (top > (copter_top - g.bh)[:, None])
        ).any(1)

    def _terrain_hits(self, copter_top: np.ndarray, copter_bottom: np.ndarray) -> np.ndarray:
        """Whether the copter touches the ceiling or floor of a column over it, per sub-env;
        sets ``_yc``, the centre y of the first such column (H / 2 if none). Only the few
        columns of each batch that can be over the copter are looked at."""
        g, k, n = self._g, self._g.k, self.num_envs
        y = self._y
        # in each batch, the first column whose rounded centre can reach g.ovl_a
        first = np.ceil((g.ovl_a - 0.5 - 1e-6 - self._tx[:, :, 0]) * (1.0 / g.tw))
        index = np.clip(first, 0, k).astype(np.int64)[:, :, None] + self._ar_nc
        valid = (index < k) & (index >= self._tlo[:, :, None]) & self._ta[:, :, None]
        flat_index = self._base[:, :, None] + np.minimum(index, k - 1)
        column_x = self._tx.reshape(-1)[flat_index]
        column_y = self._ty.reshape(-1)[flat_index]
        centre = _rnd_array(column_x)
        column_top = column_y - g.th_half
        over = (
            valid
            & (centre >= g.ovl_a)
            & (centre <= g.ovl_b)
            & (column_top < copter_bottom[:, None, None])
            & (column_top > (copter_top - g.th)[:, None, None])
        )
        touches = over & (
            ((y - g.phf)[:, None, None] <= column_y - g.quarter)
            | (y[:, None, None] >= column_y + g.quarter)
        )
        over = over.reshape(n, -1)
        first_over = over.argmax(1)
        first_y = column_y.reshape(n, -1)[self._rows, first_over]
        self._yc = np.where(over[self._rows, first_over], first_y, g.half)
        return touches.reshape(n, -1).any(1)

    def _pass_blocks(self, playing: np.ndarray, reward: np.ndarray) -> None:
        """Passing the block spawns the next one (``reward`` 1); blocks off screen go.
        Rare, so done on the few sub-envs where it happens."""
        g = self._g
        block_x, block_y = self._bx, self._by
        passed_alone = (block_x[:, 0] <= g.px) & (block_x[:, 1] >= _NO_BLOCK / 2)
        rows = np.flatnonzero((passed_alone | (block_x[:, 0] <= -g.bw)) & playing)
        if rows.size == 0:
            return
        x0, x1 = block_x[rows, 0], block_x[rows, 1]
        y0, y1 = block_y[rows, 0], block_y[rows, 1]
        has_second = x1 < _NO_BLOCK / 2
        pass_first = ~has_second & (x0 <= g.px)
        drop_first = x0 <= -g.bw
        blocks_at_second = 1 + has_second.astype(np.int64) + pass_first - drop_first
        pass_second = has_second & (x1 <= g.px) & (blocks_at_second == 1)
        spawn = pass_first | pass_second
        reward[rows] += spawn
        new_x = np.full(rows.size, _NO_BLOCK)
        new_y = np.zeros(rows.size)
        if spawn.any():
            new_x[spawn], new_y[spawn] = self._draw_blocks(rows[spawn])
        keep_first, keep_second = ~drop_first, has_second & (x1 > -g.bw)
        block_x[rows, 0] = np.where(keep_first, x0, np.where(keep_second, x1, new_x))
        block_y[rows, 0] = np.where(keep_first, y0, np.where(keep_second, y1, new_y))
        keep_both = keep_first & keep_second
        new_second = (keep_first | keep_second) & spawn
        block_x[rows, 1] = np.where(keep_both, x1, np.where(new_second, new_x, _NO_BLOCK))
        block_y[rows, 1] = np.where(keep_both, y1, np.where(new_second, new_y, 0.0))

    def _drop_columns(self) -> np.ndarray:
        """Columns that left the screen go (at most one per batch per frame); a batch
        whose columns all left goes, the newer one moving to slot 0. Returns the rewards
        (1 per column gone)."""
        first, alive = self._tlo, self._ta
        gone = alive & (self._tx.reshape(-1)[self._base + first] <= -self._g.tw)
        first += gone
        ended = first >= self._g.k
        if ended.any():
            alive &= ~ended
            first[ended] = 0
            shift = np.flatnonzero(~alive[:, 0] & alive[:, 1])
            self._tx[shift, 0] = self._tx[shift, 1]
            self._ty[shift, 0] = self._ty[shift, 1]
            first[shift, 0] = first[shift, 1]
            first[shift, 1] = 0
            alive[shift] = (True, False)
        return gone.sum(1)

    def _refill_cave(self, playing: np.ndarray) -> None:
        """A new terrain batch, in the free slot, where 13 columns or fewer remain."""
        k, first, alive = self._g.k, self._tlo, self._ta
        remaining = np.where(alive, k - first, 0).sum(1)
        rows = np.flatnonzero((remaining <= _REFILL_AT) & playing)
        if rows.size == 0:
            return
        if alive[rows, 1].any():  # pragma: no cover - the game never has 3 batches
            raise RuntimeError("internal error: a third terrain batch")
        slot = alive[rows, 0].astype(np.int64)
        new_y = self._draw_terrain(rows, self._refill)
        self._tx[rows, slot] = self._refill
        self._ty[rows, slot] = new_y
        first[rows, slot] = 0
        alive[rows, slot] = True

    def render(self) -> tuple[np.ndarray, ...] | None:
        """One H x W x 3 ``uint8`` frame per sub-env (``render_mode="rgb_array"``)."""
        if self.render_mode is None:
            gym.logger.warn(
                "render() called without a render_mode; make the vector env with "
                'render_mode="rgb_array"'
            )
            return None
        frames = []
        for i in range(self.num_envs):
            blocks = [
                (x, y) for x, y in zip(self._bx[i], self._by[i], strict=True) if x < _NO_BLOCK / 2
            ]
            columns = []
            for slot in np.flatnonzero(self._ta[i]):
                first = self._tlo[i, slot]
                xs, ys = self._tx[i, slot, first:].tolist(), self._ty[i, slot, first:].tolist()
                columns += zip(xs, ys, strict=True)
            frames.append(_draw(self._g, float(self._y[i]), blocks, columns))
        return tuple(frames)
