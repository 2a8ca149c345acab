"""train.select_by: the validation score that picks the checkpoint a run is tested with (and a
sweep's configuration): fewer bit errors then bits (the default), or bits first."""
import json

import pytest

from ntm_bench.errors import BenchError
from ntm_bench.evaluation import VALIDATION_ORDER, better
from ntm_bench.report.load import load_results
from ntm_bench.suite import load_suite
from ntm_bench.train import run_one
from suite_hashes import config_hashes
from tests.test_sweep import _sweep_fixture

NOISY = {"val_bit_errors": 40.0, "val_bits": 130.0}   # more bit errors, lower cost
CLEAN = {"val_bit_errors": 39.0, "val_bits": 131.0}


def test_the_order_puts_bit_errors_or_bits_first():
    assert better(CLEAN, NOISY) and not better(NOISY, CLEAN)
    assert better(NOISY, CLEAN, "bits") and not better(CLEAN, NOISY, "bits")
    assert better(NOISY, None, "bits")
    assert better({"val_bit_errors": 1.0, "val_bits": 2.0}, {"val_bit_errors": 1.0, "val_bits": 3.0})  # tie: bits
    assert better({"val_bit_errors": 1.0, "val_bits": 2.0}, {"val_bit_errors": 2.0, "val_bits": 2.0}, "bits")


def test_the_default_leaves_run_ids_unchanged_and_bits_changes_them():
    ng = {"task": "dynamic_ngrams"}
    assert config_hashes(**ng) == config_hashes("train.select_by=bit_errors", **ng)
    assert config_hashes(**ng) != config_hashes("train.select_by=bits", **ng)


def test_an_unknown_order_is_one_clear_error_naming_the_choices():
    with pytest.raises(BenchError, match="select_by.*'loss' is not one of 'bit_errors', 'bits'"):
        load_suite("smoke", ["train.select_by=loss"])


@pytest.mark.parametrize("by", ["bit_errors", "bits"])
def test_a_run_keeps_and_tests_the_best_validation_point_in_its_order(tmp_path, by):
    # dynamic N-grams: random targets, so bit errors and bits disagree on which point is best
    suite = load_suite("smoke", ["train.steps=60", "train.eval_every=3", "train.lr=0.01", f"train.select_by={by}"],
                       tasks=["dynamic_ngrams"], models=["lstm"], seeds=[0])
    spec, = suite.runs()
    summary = run_one(spec, tmp_path, lambda ev: None)
    curve = [json.loads(line) for line in (tmp_path / "runs" / spec.run_id / "curve.jsonl").read_text().splitlines()]
    picks = {o: min(curve, key=lambda r: tuple(r[k] for k in keys)) for o, keys in VALIDATION_ORDER.items()}
    t = summary["training"]
    assert (t["best_step"], t["best_val"]["val_bits"]) == (picks[by]["step"], picks[by]["val_bits"])
    # the two orders pick different points on this curve, so the test can tell them apart
    assert picks["bits"]["step"] != picks["bit_errors"]["step"]


def test_a_sweep_of_runs_that_select_by_bits_is_picked_by_bits(tmp_path):
    configs = {0.001: [(0.2, 9.0, 0.0), (0.4, 9.0, 0.0)], 0.01: [(0.5, 1.0, 1.0), (0.5, 1.0, 1.0)]}
    assert load_results(_sweep_fixture(tmp_path / "a", configs)).picked[("copy", "lstm")] == ("lr=0.001", 2)
    root = _sweep_fixture(tmp_path / "b", configs)
    for p in root.glob("runs/copy__lstm__lr=*/summary.json"):
        s = json.loads(p.read_text())
        s["train"]["select_by"] = "bits"
        p.write_text(json.dumps(s))
    assert load_results(root).picked[("copy", "lstm")] == ("lr=0.01", 2)
