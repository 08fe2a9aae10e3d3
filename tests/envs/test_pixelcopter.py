"""Tests of hubpg.envs.pixelcopter, the Pixelcopter-PLE-v0 game (single and vectorised).

Three kinds of evidence that the game is PLE's Pixelcopter:

* hand computations of the first frames from the rules in docs/pixelcopter.md
  (copter physics, the RandomState draws of a level, the first +1 at frame 10, a
  floor death when never thrusting);
* replays recorded on the original game (PLE master with pygame 2.6, driven like
  gym_pygame): the action sequences below were played on it and the SHA-256 of its
  observations (float32), rewards (float64) and screens after each step kept;
* the vector env checked against the single env, sub-env by sub-env, step by step.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from typing import NamedTuple

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import hubpg  # noqa: F401  (registers Pixelcopter-PLE-v0)
from hubpg.envs.pixelcopter import (
    MIN_HEIGHT,
    MIN_WIDTH,
    PixelcopterEnv,
    PixelcopterVectorEnv,
    _MTBatch,
)

ENV_ID = "Pixelcopter-PLE-v0"
BLACK, WHITE, GREEN = (0, 0, 0), (255, 255, 255), (120, 240, 80)

# The rules at 48 x 48, written out by hand.
SPEED = 0.0004 * 48
DT = 1000.0 / 30
SCROLL = SPEED * DT  # 0.64 px per frame
FALL_DT = (SPEED * 0.09) * DT
CLIMB_DT = (SPEED * -0.875) * DT
COPTER_X = 16  # int(0.35 * 48)


def rnd(v: float) -> int:
    """Half away from zero, as pygame places a rect's centre."""
    return int(math.copysign(math.floor(abs(v) + 0.5), v))


def draw_level(rs: np.random.RandomState) -> tuple[int, int, list[int]]:
    """One game init on ``rs``, in the original's order: block x, block y, freq, phases.

    Returns the block's centre and the 48 column centres y (columns at x = 2, 6, ...).
    """
    bx = rs.randint(48, 72)
    by = rs.randint(12, 36)
    freq = 4.5 / 48 + rs.uniform(-0.01, 0.01)
    ys = [int(24 + 6.0 * math.sin(freq * x + rs.uniform(0.0, 0.5))) for x in range(2, 194, 4)]
    return bx, by, ys


def first_obs(bx: int, by: int, ys: list[int]) -> np.ndarray:
    # the first column over the copter (x in [15, 17)) is the one centred at x = 14
    yc = ys[3]
    return np.array([24, 0, 24 - (yc - 12), (yc + 12) - 24, bx - 16, by, by + 9], np.float32)


def steer(obs: np.ndarray) -> int:
    """A crude controller (aims between ceiling and floor, around the gate) for long episodes."""
    y, v, dc, df, gd, gt, _ = (float(x) for x in obs)
    ceil, floor = y - dc + 2.4, y + df
    target = (ceil + floor) / 2
    if gd < 30:
        above, below = (gt - 5.5) - ceil, floor - (gt + 5.5)
        target = (ceil + gt - 5.5) / 2 if above > below else (gt + 5.5 + floor) / 2
    for _ in range(7):
        v = (v + FALL_DT) * 0.99
        y += v
    return 0 if y > target else 1


class _Replay(NamedTuple):
    seed: int | None  # None: reset() without a seed
    actions: str
    ret: float
    terminated: bool
    obs_sha256: str  # reset observation, then each step's
    rewards_sha256: str
    frames_sha256: str  # the screen after each step


# Recorded on the original game. REPLAYS_FRESH starts from a freshly made env (no seed
# ever given); REPLAYS is one env going through its episodes in order.
REPLAYS_FRESH = [
    _Replay(
        seed=None,
        actions=("11011111110111111111111111011101111111110111111111111111111011"),
        ret=4.0,
        terminated=True,
        obs_sha256="16c6ee24cf7d96f4e34c3872c596cdbe2219d5af64119bc9c5e5b7d54d9273e0",
        rewards_sha256="e694df18f9db5fa15d5d30369ef46e162308a21b3c10acfc0e3817f6cb5c8d82",
        frames_sha256="18bfe8e09cc4a965481128e18990b639e13937fb96a955725f660677ddda8f5f",
    ),
    _Replay(
        seed=None,
        actions=("1101101111"),
        ret=-4.0,
        terminated=True,
        obs_sha256="bd75719082ab19a8a224995118ae2dce0570cec84733caee98342cfb0d570271",
        rewards_sha256="56d23304fc415db77db1cbcabbcc396537f24022cdfc8287d3741e6612db4ed1",
        frames_sha256="d12f0b8bf4466890d8219fc8581dd814ff22cafcf7971db14922e95ed9597e20",
    ),
]
REPLAYS = [
    _Replay(
        seed=0,
        actions=(
            "11111111011111011110011111111111111111111111111101111111110111111111111111111111"
            "01111101111110111111110111111111011111110111110011111111111111111111111101111111"
            "11111111111110111111111101111111011111111111111101111011111100011111111111111110"
            "11111111111111111111111111110111111101011111111111111101111111111111101111110111"
            "11111111111111011111011110111111111011111011111111101111111111111111101111111111"
            "11011111111111111111101111101111110111011111111111111011111111011111111110111111"
            "11111101111111110111111111101111111111111111111101111110111111111011111101111111"
            "111011111111100111001111111"
        ),
        ret=96.0,
        terminated=True,
        obs_sha256="cc23234c590f7188d18899e4d575de19e80fee911597ef852e2db84ae69f2bb3",
        rewards_sha256="8cb4800247f5b0cc82e1a5fff9d07699c7d0e54292f8d15580d061425ff8a212",
        frames_sha256="9ad006490ea82b7ee852a3763376fbe01cb746ccb8e4ac06c2d61eda90ddbb56",
    ),
    _Replay(
        seed=None,
        actions=("100011"),
        ret=-5.0,
        terminated=True,
        obs_sha256="78b7d74c5e7dbcc551d35db216fae1d5e40b2ff523d34f0a4eb28e0086b7773b",
        rewards_sha256="b4b6ffa6292624e6ba9491b4198c61afe0709edd9f07a2a7ae6ec23ce03a5c0b",
        frames_sha256="d5c31f2eeee92a2ff767ebfa1155c03a3b48043fb1d51bc0c14a69b1d13c8396",
    ),
    _Replay(
        seed=None,
        actions=("1111101111111011111111011111111110001111111"),
        ret=1.0,
        terminated=True,
        obs_sha256="f196a1148e2c518d2dd26803250f56dc70e826d7fbb35d6799054dc79a4cdade",
        rewards_sha256="b5a427a64909905b914a8f6315d3ec707025fd55293472a329e6b46d76efebc6",
        frames_sha256="ec0f65811eac75f835d9c72c31f8c3c3ccae98d01e2b0cc2b2223af12d59b806",
    ),
    _Replay(
        seed=3,
        actions=("0000"),
        ret=-5.0,
        terminated=True,
        obs_sha256="73fc71e3666a168aceba78478f88c4784bb370a53824a5cd81190414c0102f1a",
        rewards_sha256="f52a581aed258188016acd61cd9beaa0dbb2132ee411179b75c2d6f8df549831",
        frames_sha256="53bf5f1fdd5dba1e711d5864000370cc3b77e0b20a41655aa151b65590bc896d",
    ),
    _Replay(
        seed=3,
        actions=("1111111111111111111"),
        ret=-3.0,
        terminated=True,
        obs_sha256="3be5dbca66a5a36fd2368cb9e383b38feb4965a84279c9214dc251023c1c2170",
        rewards_sha256="d0b3f537aad2e1ade8791f749c0cd6362dbecfdf377db3d06bd2c88cc954c769",
        frames_sha256="e1e7866352582dd9608a78ca0b8368918ad10dd9a8e07f38e75fde6492b3060e",
    ),
    _Replay(
        seed=42,
        actions=("111111110111110111011111111111001111110111"),
        ret=1.0,
        terminated=True,
        obs_sha256="f504d0ebe22004f39013ebae5eaddf0ef77623c0e2f04f1676bebb2604b27501",
        rewards_sha256="308c544dd3498250a838bf018de56b337460af2d85f3a0157635eb10e688e755",
        frames_sha256="c474ee23a71ed2616c2612f440aad94d9b5542f4fcfb6ddf13801d7047bff245",
    ),
    _Replay(
        seed=None,
        actions=("11111111011111111111000011111111011"),
        ret=0.0,
        terminated=True,
        obs_sha256="4ed364079149a69e3194344169ea5f895ca94bf1b9d229565c5042032797026e",
        rewards_sha256="3b90714a1ec84c0160691f38c5c442bd18d94b6fb5d1efecb5bf505e05798283",
        frames_sha256="d5f21138069d573572e1151869ff85790bc0f8149c0ece8ef3eb52148a39ce68",
    ),
    _Replay(
        seed=None,
        actions=("011010"),
        ret=-5.0,
        terminated=True,
        obs_sha256="c84c4ca11654065cdc6e8842b2fe09ec9f1fcf541d9e9be30da1e5e51e5d4893",
        rewards_sha256="b4b6ffa6292624e6ba9491b4198c61afe0709edd9f07a2a7ae6ec23ce03a5c0b",
        frames_sha256="fb7fd850eb125f471ff58aadd99a47b9415fe0b82cb6fc07553e1b3c7ff9bedd",
    ),
    _Replay(
        seed=7,
        actions=(
            "11111110011111110111111111111111101111111111101111111111111011111111111111111111"
            "11011110111111101111111101111111101111100111111111111111111111111011111111011111"
            "11111011111111111101110111111111111111111111110111101110111111011111111111110111"
            "11111111011111111110111111111011111111111111110111111111111111111100101111111111"
            "11111111110111110111111111110111111111011111111111011111111111011011111111111111"
            "11111111011111101111111001011111111111111111111111111101111111111101111111111111"
            "11110111111111111110111101111111011111101111111111011100111111111111111111111111"
            "0111111111111011111111111101111111111011"
        ),
        ret=103.0,
        terminated=False,
        obs_sha256="b6cacf10b5f4b23885d8416b961ee5360b463d43d36a5747bee070ab32c309ab",
        rewards_sha256="5f0b77f15e0af58510e8de471e620715a2e6ccbc00c0944571c790c408c646b1",
        frames_sha256="890d2072623ed88f218c0c98781b5739a3018a0fd0df22b03b739a8bfad90f53",
    ),
]


def _sha(chunks) -> str:
    h = hashlib.sha256()
    for c in chunks:
        h.update(np.ascontiguousarray(c).tobytes())
    return h.hexdigest()


# ------------------------------------------------------------------ Gymnasium API


def test_registration_and_spaces():
    spec = gym.spec(ENV_ID)
    assert spec.max_episode_steps is None
    env = gym.make(ENV_ID)
    assert isinstance(env.unwrapped, PixelcopterEnv)
    assert env.action_space == gym.spaces.Discrete(2)
    assert env.observation_space == gym.spaces.Box(-np.inf, np.inf, (7,), np.float32)
    assert env.metadata["render_fps"] == 30
    assert set(env.metadata["render_modes"]) == {"human", "rgb_array"}
    obs, info = env.reset(seed=0)
    assert obs.dtype == np.float32 and obs.shape == (7,) and info == {}
    env.close()


@pytest.mark.parametrize("render_mode", [None, "rgb_array"])
def test_check_env(render_mode, monkeypatch):
    pytest.importorskip("pygame")  # check_env also opens the "human" mode
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")
    env = gym.make(ENV_ID, render_mode=render_mode)
    with warnings.catch_warnings():
        # raw pixel observations are unbounded by design, as in the original
        warnings.filterwarnings("error")
        warnings.filterwarnings("ignore", message=".*Box observation space (minimum|maximum)")
        check_env(env.unwrapped)
    env.close()


def test_make_vec_uses_the_batched_env():
    envs = gym.make_vec(ENV_ID, num_envs=3, vectorization_mode="vector_entry_point")
    assert isinstance(envs.unwrapped, PixelcopterVectorEnv)
    assert envs.num_envs == 3
    assert envs.single_action_space == gym.spaces.Discrete(2)
    assert envs.single_observation_space == gym.spaces.Box(-np.inf, np.inf, (7,), np.float32)
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (3, 7) and obs.dtype == np.float32
    obs, rew, term, trunc, info = envs.step(np.array([0, 1, 1]))
    assert obs.shape == (3, 7) and rew.shape == (3,) and term.dtype == bool and not trunc.any()
    envs.close()


# ------------------------------------------------------------------ hand computations


@pytest.mark.parametrize("seed", [0, 1, 123, 2**32 - 1])
def test_seeded_reset_is_the_second_init_of_randomstate_seed(seed):
    rs = np.random.RandomState(seed)
    draw_level(rs)  # the original's seed() inits a game that is thrown away
    expected = first_obs(*draw_level(rs))
    obs, _ = PixelcopterEnv().reset(seed=seed)
    np.testing.assert_array_equal(obs, expected)
    assert obs[0] == 24 and obs[1] == 0 and obs[2] + obs[3] == 24  # [24, 0, 7, 17, ...] typically


def test_unseeded_env_plays_randomstate_24_from_its_third_init():
    rs = np.random.RandomState(24)
    draw_level(rs)  # PLE's constructor
    draw_level(rs)  # gym_pygame's init()
    third, fourth = draw_level(rs), draw_level(rs)
    env = PixelcopterEnv()
    np.testing.assert_array_equal(env.reset()[0], first_obs(*third))
    np.testing.assert_array_equal(env.reset()[0], first_obs(*fourth))
    # a seeded reset later restarts from RandomState(seed)
    assert not np.array_equal(PixelcopterEnv().reset(seed=24)[0], first_obs(*third))


def test_copter_physics_first_frames():
    env = PixelcopterEnv()
    env.reset(seed=5)
    y, m = 24.0, 0.0
    for action in [1, 1, 0, 1, 1, 1, 0, 1]:  # 0 is thrust
        m += CLIMB_DT if action == 0 else FALL_DT  # thrust first, then damping, then move
        m *= 0.99
        y += m
        obs, reward, terminated, truncated, _ = env.step(action)
        assert obs[0] == np.float32(y) and obs[1] == np.float32(m)
        assert not terminated and not truncated and reward == 0.0
    assert np.float32(FALL_DT) == np.float32(0.0576) and np.float32(SCROLL) == np.float32(0.64)


@pytest.mark.parametrize("seed", [0, 3, 11, 2024])
def test_never_thrusting_scores_at_frame_10_then_dies_on_the_floor(seed):
    rs = np.random.RandomState(seed)
    draw_level(rs)
    bx, _, ys = draw_level(rs)
    # expected by hand: columns scroll by 0.64 per frame (repeated subtraction, as the
    # game); a column leaves (+1) at x <= -4; the copter (rect x in [15, 17)) dies when
    # y >= y_t + 12 (floor) or y - 2.4 <= y_t - 12 (ceiling) for a column over it.
    xs = [float(x) for x in range(2, 194, 4)]
    y, m = 24.0, 0.0
    rewards, died_on = [], None
    while died_on is None:
        m = (m + FALL_DT) * 0.99
        y += m
        xs = [x - SCROLL for x in xs]
        over = [k for k, x in enumerate(xs) if x > -1000 and 14 <= rnd(x) <= 18]
        floor = any(y >= ys[k] + 12 for k in over)
        ceiling = any(y - 2.4 <= ys[k] - 12 for k in over)
        r = float(sum(x <= -4 for x in xs if x > -1000))
        xs = [x if x > -4 else -2000.0 for x in xs]
        assert bx - len(rewards) * SCROLL > 20  # the block is never reached
        if floor or ceiling:
            died_on = "floor" if floor else "ceiling"
            r -= 5
        rewards.append(r)
    assert died_on == "floor" and 18 <= len(rewards) <= 24
    assert rewards[:9] == [0.0] * 9 and rewards[9] == 1.0  # first column leaves at frame 10
    assert sum(rewards) in (-3.0, -2.0)

    env = PixelcopterEnv()
    env.reset(seed=seed)
    got = []
    terminated = False
    while not terminated:
        obs, reward, terminated, truncated, _ = env.step(1)
        got.append(reward)
        assert not truncated
    assert got == rewards
    assert obs[0] > 24 and obs[1] > 0  # fell


def test_always_thrusting_hits_the_ceiling_quickly():
    env = PixelcopterEnv()
    for seed in range(5):
        env.reset(seed=seed)
        rewards = []
        terminated = False
        while not terminated:
            obs, reward, terminated, _, _ = env.step(0)
            rewards.append(reward)
        assert len(rewards) <= 6 and sum(rewards) == -5.0
        assert obs[0] < 24 and obs[1] < 0


def test_determinism_for_a_seed():
    actions = np.random.default_rng(1).integers(0, 2, 300)
    runs = []
    for _ in range(2):
        env = PixelcopterEnv()
        trace = [env.reset(seed=77)[0]]
        for a in actions:
            obs, reward, terminated, _, _ = env.step(int(a))
            trace += [obs, np.float32(reward), np.float32(terminated)]
            if terminated:
                trace.append(env.reset()[0])
        runs.append(_sha(trace))
    assert runs[0] == runs[1]
    other = PixelcopterEnv().reset(seed=78)[0]
    assert not np.array_equal(other, PixelcopterEnv().reset(seed=77)[0])


def test_step_after_termination_changes_nothing():
    env = PixelcopterEnv(render_mode="rgb_array")
    env.reset(seed=2)
    terminated = False
    while not terminated:
        obs, _, terminated, _, _ = env.step(0)
    frame = env.render()
    for action in (0, 1, 1, 0):
        again, reward, terminated, truncated, _ = env.step(action)
        np.testing.assert_array_equal(again, obs)
        assert again is not obs
        assert reward == 0.0 and terminated and not truncated
    np.testing.assert_array_equal(env.render(), frame)


# ------------------------------------------------------------------ the original game


def _play(env: PixelcopterEnv, replay: _Replay) -> None:
    if replay.seed is None:
        obs, _ = env.reset()
    else:
        obs, _ = env.reset(seed=replay.seed)
    observations, rewards, frames = [obs], [], []
    terminated = False
    for a in replay.actions:
        obs, reward, terminated, _, _ = env.step(int(a))
        observations.append(obs)
        rewards.append(reward)
        frames.append(env.render())
    assert sum(rewards) == replay.ret and terminated == replay.terminated
    assert _sha([np.array(rewards, np.float64)]) == replay.rewards_sha256
    assert _sha(observations) == replay.obs_sha256
    assert _sha(frames) == replay.frames_sha256


@pytest.mark.parametrize("replays", [REPLAYS_FRESH, REPLAYS], ids=["fresh-env", "one-env"])
def test_replays_recorded_on_the_original_game(replays):
    env = PixelcopterEnv(render_mode="rgb_array")
    for replay in replays:
        _play(env, replay)


def test_vector_env_replays_long_original_games():
    long = [r for r in REPLAYS if r.seed is not None and len(r.actions) > 500]
    assert len(long) == 2
    envs = PixelcopterVectorEnv(num_envs=2)
    obs, _ = envs.reset(seed=[r.seed for r in long])
    traces = [[obs[i]] for i in range(2)]
    ends = [len(r.actions) for r in long]
    for t in range(max(ends)):
        actions = np.array([int(r.actions[t]) if t < len(r.actions) else 1 for r in long])
        obs, _, _, _, _ = envs.step(actions)
        for i in range(2):
            if t < ends[i]:
                traces[i].append(obs[i])
    for i, r in enumerate(long):
        assert _sha(traces[i]) == r.obs_sha256


# ------------------------------------------------------------------ the vector env


def _check_vector_matches_singles(envs, singles, first, rng, steps):
    n = len(singles)
    obs = [o for o in first]
    done = [False] * n
    thrust_p = rng.uniform(0.05, 0.5, n)
    use_steer = rng.random(n) < 0.5
    ends = 0
    for t in range(steps):
        actions = np.array(
            [
                steer(obs[i])
                if use_steer[i] and rng.random() > 0.03
                else int(rng.random() >= thrust_p[i])
                for i in range(n)
            ]
        )
        vobs, vrew, vterm, vtrunc, _ = envs.step(actions)
        assert not vtrunc.any()
        for i, env in enumerate(singles):
            if done[i]:  # next-step autoreset
                o, _ = env.reset()
                r, d = 0.0, False
                ends += 1
            else:
                o, r, d, _, _ = env.step(int(actions[i]))
            obs[i], done[i] = o, d
            assert np.array_equal(vobs[i], o), (t, i, vobs[i], o)
            assert vrew[i] == r and vterm[i] == d, (t, i)
    return ends


def test_vector_sub_envs_play_exactly_the_single_env():
    rng = np.random.default_rng(7)
    n = 8
    envs = PixelcopterVectorEnv(num_envs=n)
    singles = [PixelcopterEnv() for _ in range(n)]
    # before any seed: every sub-env is a fresh single env
    vobs, _ = envs.reset()
    first = [env.reset()[0] for env in singles]
    np.testing.assert_array_equal(vobs, np.stack(first))
    ends = _check_vector_matches_singles(envs, singles, first, rng, 600)
    # reset(seed=S): sub-env i gets S + i
    vobs, _ = envs.reset(seed=1000)
    first = [env.reset(seed=1000 + i)[0] for i, env in enumerate(singles)]
    np.testing.assert_array_equal(vobs, np.stack(first))
    ends += _check_vector_matches_singles(envs, singles, first, rng, 1500)
    # a list of seeds, None keeping a sub-env's stream
    seeds = [int(s) for s in rng.integers(0, 2**32, n)]
    seeds[3] = None
    vobs, _ = envs.reset(seed=seeds)
    first = [env.reset(seed=s)[0] for env, s in zip(singles, seeds, strict=True)]
    np.testing.assert_array_equal(vobs, np.stack(first))
    ends += _check_vector_matches_singles(envs, singles, first, rng, 900)
    assert ends > 300  # many automatic resets were compared


def test_vector_autoreset_is_next_step():
    envs = PixelcopterVectorEnv(num_envs=2)
    envs.reset(seed=[4, 5])
    single = PixelcopterEnv()
    single.reset(seed=4)
    terminated = np.array([False, False])
    while not terminated[0]:
        obs, reward, terminated, truncated, _ = envs.step(np.array([0, 1]))
    assert reward[0] == -5.0
    obs, reward, terminated, truncated, _ = envs.step(np.array([0, 0]))  # action ignored
    single.step(0)
    np.testing.assert_array_equal(obs[0], single.reset()[0])
    assert reward[0] == 0.0 and not terminated[0] and not truncated[0]
    assert obs[0, 0] == 24 and obs[0, 1] == 0


def test_vector_max_episode_steps_truncates_like_time_limit():
    """Sub-envs with ``max_episode_steps`` play what single envs under ``TimeLimit`` play,
    truncations and the restart after them included."""
    n, limit = 4, 60
    envs = PixelcopterVectorEnv(num_envs=n, max_episode_steps=limit)
    singles = [gym.wrappers.TimeLimit(PixelcopterEnv(), limit) for _ in range(n)]
    obs = np.stack([env.reset(seed=30 + i)[0] for i, env in enumerate(singles)])
    np.testing.assert_array_equal(envs.reset(seed=30)[0], obs)
    done = [False] * n
    truncations = 0
    for _ in range(400):
        actions = np.array([steer(o) for o in obs])
        vobs, vrew, vterm, vtrunc, _ = envs.step(actions)
        for i, env in enumerate(singles):
            if done[i]:
                o, r, term, trunc = env.reset()[0], 0.0, False, False
            else:
                o, r, term, trunc, _ = env.step(int(actions[i]))
            np.testing.assert_array_equal(vobs[i], o)
            assert (vrew[i], vterm[i], vtrunc[i]) == (r, term, trunc)
            done[i] = term or trunc
            truncations += trunc
            obs[i] = o
    assert truncations >= n  # the steering controller outlives the limit


def test_make_vec_env_max_t_never_exceeds_the_env_limit():
    from hubpg.envs import make_vec_env

    assert make_vec_env("Pixelcopter-PLE-v0", 2, max_t=50).max_episode_steps == 50
    assert make_vec_env("Pixelcopter-PLE-v0", 2).max_episode_steps is None
    cartpole = make_vec_env("CartPole-v1", 2, max_t=10_000)  # CartPole-v1 stops at 500
    assert cartpole.unwrapped.max_episode_steps == 500
    assert make_vec_env("CartPole-v1", 2, max_t=100).unwrapped.max_episode_steps == 100


def test_mt_batch_matches_randomstate_words():
    seeds = [0, 5, 24, 2**32 - 1]
    mt = _MTBatch(len(seeds))
    rows = np.arange(len(seeds))
    mt.seed(rows, seeds)
    generators = []
    for s in seeds:
        bitgen = np.random.MT19937()
        key, pos = np.random.RandomState(s).get_state()[1:3]
        bitgen.state = {"bit_generator": "MT19937", "state": {"key": key, "pos": pos}}
        generators.append(bitgen)
    for n in [1, 7, 300, 624, 2, 623, 5, 624, 100]:
        words = mt.peek(rows, n)
        mt.advance(rows, n)
        for i, bitgen in enumerate(generators):
            np.testing.assert_array_equal(words[i], bitgen.random_raw(n).astype(np.uint32))


# ------------------------------------------------------------------ rendering


def _colours(frame: np.ndarray) -> set[tuple[int, int, int]]:
    return {tuple(int(c) for c in px) for px in np.unique(frame.reshape(-1, 3), axis=0)}


def test_render_rgb_array_after_reset_draws_the_reset_state():
    rs = np.random.RandomState(9)
    draw_level(rs)
    bx, by, ys = draw_level(rs)
    env = PixelcopterEnv(render_mode="rgb_array")
    env.reset(seed=9)
    frame = env.render()
    assert frame.shape == (48, 48, 3) and frame.dtype == np.uint8
    assert _colours(frame) <= {BLACK, WHITE, GREEN}
    # the copter: a 2 x 2 white square centred at (16, 24)
    assert (frame[23:25, 15:17] == WHITE).all()
    assert (frame == WHITE).all(axis=2).sum() == 4
    # the first column (x in [0, 4)): its ceiling down to y_t - 12, its floor from y_t + 14
    yt = ys[0]
    assert (frame[: yt - 12, 0:4] == GREEN).all()
    assert (frame[yt - 12 : yt + 14, 0:4] == BLACK).all()
    assert (frame[yt + 14 :, 0:4] == GREEN).all()
    # the block (x from 46 at the earliest): rows by - 4 .. by + 4
    left = bx - 2
    if left < 48:
        assert (frame[by - 4 : by + 5, left:48] == GREEN).all()
    # the middle of the cave, away from the copter and the block, is black
    assert (frame[20:28, 20:40] == BLACK).all()


def test_render_draws_green_over_the_copter_at_a_block_crash():
    env = PixelcopterEnv(render_mode="rgb_array")
    for seed in range(200):
        rng = np.random.default_rng(seed)
        obs, _ = env.reset(seed=seed)
        terminated = False
        while not terminated:
            obs, _, terminated, _, _ = env.step(int(rng.random() < 0.75))
        frame = env.render()
        assert _colours(frame) <= {BLACK, WHITE, GREEN}
        copter = frame[rnd(float(obs[0])) - 1 : rnd(float(obs[0])) + 1, 15:17]
        if (copter == GREEN).all(axis=2).any():  # drawn after the copter, the block covers it
            assert (frame == WHITE).all(axis=2).sum() < 4
            return
        assert (copter == WHITE).all()
    pytest.fail("no crash into a block in 200 episodes")


def test_render_without_mode_warns_and_returns_none():
    env = PixelcopterEnv()
    env.reset(seed=0)
    with pytest.warns(UserWarning, match="render_mode"):
        assert env.render() is None


def test_vector_render_gives_each_sub_env_frame():
    envs = PixelcopterVectorEnv(num_envs=3, render_mode="rgb_array")
    singles = [PixelcopterEnv(render_mode="rgb_array") for _ in range(3)]
    envs.reset(seed=30)
    for i, env in enumerate(singles):
        env.reset(seed=30 + i)
    rng = np.random.default_rng(0)
    done = [False] * 3
    for _ in range(40):
        actions = rng.integers(0, 2, 3)
        envs.step(actions)
        for i, env in enumerate(singles):  # next-step autoreset
            if done[i]:
                env.reset()
                done[i] = False
            else:
                done[i] = env.step(int(actions[i]))[2]
        frames = envs.render()
        assert isinstance(frames, tuple) and len(frames) == 3
        for frame, env in zip(frames, singles, strict=True):
            np.testing.assert_array_equal(frame, env.render())
    envs.close()


def test_human_render_mode_opens_a_window(monkeypatch):
    pytest.importorskip("pygame")
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    env = PixelcopterEnv(render_mode="human")
    env.reset(seed=0)
    env.step(1)
    assert env.render() is None
    env.close()


def test_other_sizes_follow_the_same_rules():
    env = PixelcopterEnv(width=64, height=80, render_mode="rgb_array")
    obs, _ = env.reset(seed=1)
    assert obs[0] == 40 and obs[2] + obs[3] == 40  # H / 2, and the cave is H / 2 high
    assert env.render().shape == (80, 64, 3)
    envs = PixelcopterVectorEnv(num_envs=2, width=64, height=80)
    np.testing.assert_array_equal(envs.reset(seed=1)[0][0], obs)


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"width": MIN_WIDTH - 1}, "width must be at least 40"),
        ({"height": MIN_HEIGHT - 1}, "height must be at least 20"),
        ({"width": 10}, "at least 40"),
        ({"width": 48.0}, "integer"),
        ({"height": "48"}, "integer"),
        ({"render_mode": "rgb"}, "unsupported render_mode 'rgb'"),
    ],
)
def test_bad_construction_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PixelcopterEnv(**kwargs)
    with pytest.raises(ValueError, match=match):
        PixelcopterVectorEnv(num_envs=2, **kwargs)


def test_smallest_sizes_work():
    env = PixelcopterEnv(width=MIN_WIDTH, height=MIN_HEIGHT)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    ends = 0
    for _ in range(50):
        obs, reward, terminated, truncated, _ = env.step(1)
        assert obs.shape == (7,) and np.isfinite(obs).all()
        assert env.observation_space.contains(obs) and np.isfinite(reward)
        if terminated:
            ends += 1
            assert reward < 0  # the crash penalty
            obs, _ = env.reset()
            assert env.observation_space.contains(obs)
    assert ends >= 1  # never climbing, the copter falls out of a 20-pixel screen


@pytest.mark.parametrize("action", [2, -1, 0.5, "0", None])
def test_bad_action(action):
    env = PixelcopterEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="invalid Pixelcopter action"):
        env.step(action)


def test_vector_bad_input():
    with pytest.raises(ValueError, match="num_envs"):
        PixelcopterVectorEnv(num_envs=0)
    with pytest.raises(ValueError, match="render_mode"):
        PixelcopterVectorEnv(num_envs=2, render_mode="human")
    with pytest.raises(ValueError, match="max_episode_steps"):
        PixelcopterVectorEnv(num_envs=2, max_episode_steps=0)
    envs = PixelcopterVectorEnv(num_envs=2)
    envs.reset(seed=0)
    with pytest.raises(ValueError, match="invalid Pixelcopter action"):
        envs.step(np.array([0, 2]))
    with pytest.raises(ValueError, match="shape"):
        envs.step(np.array([0, 1, 1]))
    with pytest.raises(ValueError, match="seeds"):
        envs.reset(seed=[1, 2, 3])


def _centring_actions(obs: np.ndarray, flips: np.ndarray) -> np.ndarray:
    """Thrust below the cave's middle or when falling (games of a few hundred frames,
    blocks passed and terrain refilled), every action flipped where ``flips``."""
    return np.where(((obs[:, 2] - obs[:, 3]) + 10 * obs[:, 1] > 0) ^ flips, 0, 1)


def test_step_rows_plays_each_sub_env_as_step_does():
    n, frames = 24, 400
    full = PixelcopterVectorEnv(n)
    obs, _ = full.reset(seed=list(range(100, 100 + n)))
    rng = np.random.default_rng(0)
    played = []  # per frame: actions and everything step returned, for every sub-env
    for _ in range(frames):
        actions = _centring_actions(obs, rng.random(n) < 0.05)
        obs, reward, terminated, truncated, _ = full.step(actions)
        played.append((actions, obs.copy(), reward.copy(), terminated.copy(), truncated))
    # the same games, each sub-env advanced at its own pace: a random part of them per call
    part = PixelcopterVectorEnv(n)
    part.reset(seed=list(range(100, 100 + n)))
    frame = np.zeros(n, dtype=np.int64)
    scores = np.zeros(n)
    while (frame < frames).any():
        rows = np.flatnonzero((frame < frames) & (rng.random(n) < 0.5))
        if rows.size == 0:
            continue
        actions = np.array([played[frame[r]][0][r] for r in rows])
        obs, reward, terminated, truncated, _ = part.step_rows(actions, rows)
        for i, r in enumerate(rows):
            _, want_obs, want_reward, want_term, want_trunc = played[frame[r]]
            assert np.array_equal(obs[i], want_obs[r]) and reward[i] == want_reward[r]
            assert terminated[i] == want_term[r] and truncated[i] == want_trunc[r]
            scores[r] += reward[i]
        frame[rows] += 1
    assert scores.max() >= 3  # blocks were passed ...
    assert sum(int(t.sum()) for _, _, _, t, _ in played) > n  # ... games ended and restarted
