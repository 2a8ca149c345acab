"""The learning-rate schedule (TrainConfig.lr_schedule, lr_final, warmup_steps, lr_decay_steps)."""
import json
import math

import pytest

from ntm_bench.cli import main
from ntm_bench.errors import BenchError
from ntm_bench.optim import lr_factor
from ntm_bench.config import TrainConfig
from suite_hashes import config_hashes


def test_constant_is_one_and_cosine_runs_from_one_to_lr_final():
    assert all(lr_factor(TrainConfig(steps=10), s) == 1.0 for s in range(10))
    t = TrainConfig(steps=100, lr_schedule="cosine", lr_final=0.1)
    assert lr_factor(t, 0) == 1.0
    assert lr_factor(t, 50) == pytest.approx(0.55)
    assert lr_factor(t, 100) == pytest.approx(0.1)
    assert all(lr_factor(t, s) >= lr_factor(t, s + 1) for s in range(100))


def test_warmup_is_linear_then_the_schedule():
    t = TrainConfig(steps=100, warmup_steps=4)
    assert [lr_factor(t, s) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    c = TrainConfig(steps=100, warmup_steps=10, lr_schedule="cosine", lr_final=0.5)
    assert lr_factor(c, 4) == pytest.approx(0.5 * (0.5 + 0.25 * (1 + math.cos(math.pi * 0.04))))


def test_a_decay_over_fewer_steps_than_the_budget_then_holds_the_final_rate():
    short = TrainConfig(steps=100, lr_schedule="cosine", lr_final=0.1)
    longer = TrainConfig(steps=150, lr_schedule="cosine", lr_final=0.1, lr_decay_steps=100)
    # the first 100 steps are the 100-step budget's, to the bit; then the rate stays at lr * lr_final
    assert [lr_factor(longer, s) for s in range(101)] == [lr_factor(short, s) for s in range(101)]
    assert [lr_factor(longer, s) for s in range(100, 150)] == pytest.approx([0.1] * 50)
    # without it the same budget decays over all 150 steps
    assert lr_factor(TrainConfig(steps=150, lr_schedule="cosine", lr_final=0.1), 100) > 0.2
    # it leaves a constant schedule alone
    assert lr_factor(TrainConfig(steps=150, lr_decay_steps=100), 120) == 1.0


@pytest.mark.parametrize("v", [0, -5])
def test_a_decay_over_no_steps_is_refused(v):
    with pytest.raises(BenchError, match="lr_decay_steps' must be positive"):
        TrainConfig(lr_decay_steps=v)


def test_the_decay_option_at_its_default_leaves_run_ids_unchanged_and_a_span_changes_them():
    assert config_hashes() == config_hashes("train.lr_decay_steps=null")
    assert config_hashes() != config_hashes("train.lr_decay_steps=50")


@pytest.mark.parametrize("kw", [{"lr_schedule": "linear"}, {"lr_final": 0.0}, {"lr_final": 2.0}, {"warmup_steps": -1}])
def test_bad_schedule_settings_are_refused(kw):
    with pytest.raises(BenchError, match="lr_schedule|lr_final"):
        TrainConfig(**kw)


def test_the_training_loop_follows_the_schedule(tmp_path):
    assert main(["run", "smoke", "--out", str(tmp_path), "--tasks", "copy", "--models", "lstm", "--no-report",
                 "--workers", "1", "train.steps=8", "train.eval_every=2", "train.lr_schedule=cosine",
                 "train.lr_final=0.25", "train.lr=0.01"]) == 0
    rows = [json.loads(x) for x in (tmp_path / "runs" / "copy__lstm__s0" / "curve.jsonl").read_text().splitlines()]
    t = TrainConfig(steps=8, lr_schedule="cosine", lr_final=0.25, lr=0.01)
    assert [r["lr"] for r in rows] == pytest.approx([0.01 * lr_factor(t, r["step"] - 1) for r in rows])
    assert rows[-1]["lr"] < rows[0]["lr"]
