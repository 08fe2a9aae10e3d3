"""Interrupts held through a critical section are delivered after it, never lost, and an
update interrupted between being counted and being logged still gets its log row."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from hubpg import reinforce
from hubpg.config import TrainConfig
from hubpg.errors import TrainingInterrupted
from hubpg.interrupts import interrupts_held
from hubpg.runfolder import read_json, read_log


def test_a_ctrl_c_inside_the_block_is_raised_after_its_last_statement() -> None:
    done = []
    with pytest.raises(KeyboardInterrupt), interrupts_held():
        os.kill(os.getpid(), signal.SIGINT)
        done.append("after the signal")
    assert done == ["after the signal"]


def test_released_raises_a_held_signal_as_it_starts_and_holds_again_after() -> None:
    steps = []
    with pytest.raises(KeyboardInterrupt), interrupts_held() as held:
        os.kill(os.getpid(), signal.SIGINT)
        try:
            with held.released():
                steps.append("released block ran")  # pragma: no cover - raised first
        except KeyboardInterrupt:
            steps.append("raised at the released block's start")
        os.kill(os.getpid(), signal.SIGINT)  # held again: raised at the end
        steps.append("held again")
    assert steps == ["raised at the released block's start", "held again"]


def test_a_sigterm_is_delivered_to_its_own_handler() -> None:
    seen = []
    before = signal.signal(signal.SIGTERM, lambda signum, _frame: seen.append(signum))
    try:
        with interrupts_held(signal.SIGTERM):
            os.kill(os.getpid(), signal.SIGTERM)
            assert seen == []
        assert seen == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, before)


def test_off_the_main_thread_nothing_is_held() -> None:
    errors = []

    def work() -> None:
        try:
            with interrupts_held() as held, held.released():
                pass
        except Exception as exc:  # pragma: no cover - the failure this test looks for
            errors.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert errors == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_update_interrupted_while_its_log_row_is_built_keeps_the_row(
    tmp_path, monkeypatch
) -> None:
    log_row = reinforce._log_row

    def interrupted_at_update_3(run, *args):
        if run.updates == 3:
            os.kill(os.getpid(), signal.SIGINT)  # the moment a row used to be lost
        return log_row(run, *args)

    monkeypatch.setattr(reinforce, "_log_row", interrupted_at_update_3)
    config = TrainConfig.for_env("CartPole-v1", total_steps=50_000, num_envs=4)
    with pytest.raises(TrainingInterrupted):
        reinforce.train(config, tmp_path / "run", progress=False)
    state = read_json(tmp_path / "run" / "trainer_state.json")
    assert state["status"] == "interrupted" and state["updates"] == 3
    assert [int(r["update"]) for r in read_log(tmp_path / "run")] == [1, 2, 3]
