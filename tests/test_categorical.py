"""The categorical output kind (softmax cross-entropy, per-token accuracy, exact match), the chomsky
suites and their bad input, and the guarantee that the bit tasks' runs are unchanged by them."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ntm_bench import registry
from ntm_bench.cli import main
from ntm_bench.metrics import KINDS, categorical_loss, categorical_metrics, output_kind, sequence_metrics
from ntm_bench.suite import load_suite

ROOT = Path(__file__).resolve().parent.parent
CHOMSKY_TASKS = 15


def one_hot(indices, k=3):
    return torch.nn.functional.one_hot(torch.tensor(indices), k).float()


def test_categorical_metrics_by_hand():
    # two sequences of 3 steps, 3 classes; step 0 is not scored
    logits = torch.zeros(2, 3, 3)
    logits[0, 1] = torch.tensor([0.0, math.log(3), 0.0])   # p(1) = 3/5: right
    logits[0, 2] = torch.tensor([math.log(2), 0.0, 0.0])   # argmax 0, target 2: wrong
    logits[1, 1] = torch.tensor([0.0, 0.0, 5.0])            # right
    logits[1, 2] = torch.tensor([9.0, 0.0, 0.0])            # padding step: never scored
    targets = torch.stack([one_hot([0, 1, 2]), one_hot([0, 2, 0])])
    mask = torch.tensor([[False, True, True], [False, True, False]])
    targets = targets * mask.unsqueeze(-1)
    m = categorical_metrics(logits, targets, mask)
    p_wrong = 1 / 4  # step 2 of sequence 0: softmax (2, 1, 1) / 4 gives the target 1/4
    assert m["bits"][0].item() == pytest.approx(-math.log2(3 / 5) - math.log2(p_wrong))
    assert m["bits"][1].item() == pytest.approx(-math.log2(math.exp(5) / (2 + math.exp(5))))
    assert m["bit_errors"].tolist() == [1.0, 0.0]
    assert m["accuracy"].tolist() == [0.5, 1.0] and m["bit_accuracy"].tolist() == [0.5, 1.0]
    assert m["seq_accuracy"].tolist() == [0.0, 1.0]
    # the training loss is the mean cross-entropy per scored symbol (nats)
    loss = categorical_loss(logits, targets, mask)
    assert loss.tolist() == pytest.approx([(m["bits"][0].item() * math.log(2)) / 2, m["bits"][1].item() * math.log(2)])


def test_the_task_decides_the_output_kind():
    assert output_kind(registry.get_task("copy").cls()) is KINDS["bits"]
    assert output_kind(registry.get_task("parity_check").cls()) is KINDS["categorical"]
    assert KINDS["bits"].metrics is sequence_metrics
    assert set(KINDS["categorical"].names) == {"bits", "bit_errors", "bit_accuracy", "seq_accuracy", "accuracy"}


def test_an_unknown_output_kind_is_refused_at_registration():
    from dataclasses import dataclass
    from typing import ClassVar

    from ntm_bench.errors import BenchError
    from tasks.copy import Copy

    snap = registry.reset_for_tests()
    try:
        with pytest.raises(BenchError, match="unknown output_kind 'ranks'; valid: bits, categorical"):
            @registry.register_task("ranked_copy")
            @dataclass(frozen=True)
            class RankedCopy(Copy):
                output_kind: ClassVar[str] = "ranks"
    finally:
        registry.reset_for_tests(snap)


@pytest.mark.parametrize("suite,run_id,config_hash", [
    ("smoke", "copy__ntm__s0", "1f3dcefedac6e465"),
    ("quick", "copy__ntm__s0", "5394affda90801f7"),
    ("graves2014-cpu", "copy__ntm__s0", "f241981888efaac8"),
])
def test_the_bit_tasks_keep_their_config_hashes(suite, run_id, config_hash):
    runs = {r.run_id: r for r in load_suite(suite).runs()}
    assert runs[run_id].config_hash() == config_hash


# -- the suites -------------------------------------------------------------------------------

def test_the_chomsky_suite_is_the_protocol_on_every_task_and_family():
    s = load_suite("chomsky")
    assert len(s.tasks) == CHOMSKY_TASKS and set(s.models) == {"ntm", "dnc", "lstm", "transformer", "stack_rnn"}
    for spec in s.tasks.values():
        assert spec.train_range == {"length": (1, 40)}
        assert [p[0] for p in spec.test] == list(range(41, 501, 10))  # by value; 41 included
        assert output_kind(registry.get_task(spec.task).cls()).name == "categorical"
    assert s.train.batch_size == 128 and s.train.clip == "norm" and s.train.clip_value == 1.0
    assert s.eval.solved_threshold == 0.9


def test_chomsky_full_equals_chomsky_but_tests_every_unseen_length():
    full, default = load_suite("chomsky-full"), load_suite("chomsky")
    for label, spec in full.tasks.items():
        assert [p[0] for p in spec.test] == list(range(41, 501))
        assert spec.train_range == default.tasks[label].train_range
    assert (full.train, full.eval, full.models, full.seeds) == (default.train, default.eval, default.models, default.seeds)


def test_chomsky_quick_runs_every_task_and_family():
    s = load_suite("chomsky-quick")
    runs = s.runs()
    assert len(s.tasks) == CHOMSKY_TASKS and set(s.models) == {"ntm", "lstm", "transformer", "stack_rnn"}
    assert len(runs) == CHOMSKY_TASKS * 4 * len(s.seeds)
    assert all(p[0] > 40 for spec in s.tasks.values() for p in spec.test)


def test_a_test_range_is_selected_by_value():
    s = load_suite("chomsky", ["tasks.parity_check.test=41..60/7"], tasks=["parity_check"])
    assert s.tasks["parity_check"].test == ((41,), (48,), (55,))


def test_a_categorical_run_records_accuracy_and_the_report_shows_it(tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["run", "chomsky", "--tasks", "parity_check,binary_addition", "--models", "lstm", "--seeds", "0,1",
               "--workers", "1", "--no-report", "--out", str(out), "models.lstm.options.hidden_size=8",
               "train.steps=2", "train.batch_size=4", "train.eval_every=1", "train.val_sequences=4",
               "eval.sequences=4", "tasks.parity_check.test=[41,45]", "tasks.binary_addition.test=[3,41]"])
    printed = capsys.readouterr().out
    assert rc == 0
    summary = json.loads((out / "runs" / "binary_addition__lstm__s0" / "summary.json").read_text())
    rows = {r["label"]: r for r in summary["eval"]}
    assert rows["3"]["split"] == "train" and rows["41"]["split"] == "unseen"
    assert rows["41"]["accuracy"] == rows["41"]["bit_accuracy"] and 0 <= rows["41"]["accuracy"] <= 1
    assert "acc max" in printed and "bit err (train)" not in printed
    assert "parity_check__lstm__s0: ok, accuracy (unseen) " in printed  # the run's headline
    from ntm_bench.report.generalisation import score_frame, score_table
    from ntm_bench.report.load import load_results
    from ntm_bench.report.render import render
    from ntm_bench.report.tables import leaderboard

    results = load_results(out)
    df = score_frame(results).set_index(["task", "model"])
    unseen = [json.loads((out / "runs" / f"parity_check__lstm__s{s}" / "summary.json").read_text())["eval"]
              for s in (0, 1)]
    scores = [sum(r["accuracy"] for r in ev) / len(ev) for ev in unseen]
    assert df.loc[("parity_check", "lstm"), "max"] == pytest.approx(max(scores))
    assert df.loc[("parity_check", "lstm"), "mean"] == pytest.approx(sum(scores) / 2)
    assert df.loc[("parity_check", "lstm"), "n_seeds"] == 2
    table = render(score_table(results), "md")
    assert "accuracy: max over seeds" in table and "accuracy: mean ± sd over seeds" in table
    assert "seeds solved (≥ 0.9)" in table and "exact match" in table
    header = next(line for line in leaderboard(results, "md").splitlines() if line.startswith("|"))
    assert "accuracy" in [c.strip() for c in header.split("|")]
    from ntm_bench.report.build import _figure_specs

    heads = [name for section, name, *_ in _figure_specs(results, "sans", False) if section == "generalisation"]
    assert heads == ["lengths_accuracy"]  # the report's headline figure: the score against test length


# -- bad input ----------------------------------------------------------------------------------

def snapshot(tmp: Path) -> dict:
    return {str(p.relative_to(tmp)): p.stat().st_mtime_ns for p in sorted(tmp.rglob("*"))}


@pytest.mark.parametrize("extra, fragments", [
    (["--tasks", "parity"], ["--tasks: 'parity' is not in this suite", "parity_check", "reverse_string"]),
    (["tasks.parity_check.test=[0]"], ["task 'parity_check': length must be a positive integer, got 0"]),
    (["tasks.parity_check.test=500..41"], ["bad range '500..41'", "'lo..hi' or 'lo..hi/step'"]),
    (["tasks.parity_check.test=41..500/0"], ["bad range '41..500/0'"]),
    (["tasks.parity_check.train_range.length=[0,40]"], ["length must be a positive integer, got 0"]),
    (["tasks.bucket_sort.args.vocab_size=1"], ["vocab_size must be at least 2"]),
])
def test_bad_chomsky_input_is_one_line_and_writes_nothing(extra, fragments, tmp_path, capsys):
    before = snapshot(tmp_path)
    rc = main(["run", "chomsky", "--workers", "1", "--out", str(tmp_path / "out"), *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in err[0], (fragment, err[0])
    assert snapshot(tmp_path) == before


def test_an_unknown_task_as_a_real_process_is_one_line_and_exit_code_2(tmp_path):
    proc = subprocess.run([sys.executable, "run_bench.py", "run", "chomsky-quick", "--tasks", "palindrome",
                           "--out", str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "'palindrome' is not in this suite" in proc.stderr and "bucket_sort" in proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_the_lstm_learns_parity_through_the_categorical_path_and_generalises(tmp_path):
    """Measured: accuracy 0.984 at length 20 after 600 steps on lengths 1..10 (seed 0, ~30 s)."""
    out = tmp_path / "out"
    rc = main(["run", "chomsky-quick", "--tasks", "parity_check", "--models", "lstm", "--seeds", "0",
               "--workers", "1", "--no-report", "--out", str(out), "train.steps=600",
               "tasks.parity_check.train_range.length=[1,10]", "tasks.parity_check.test=[10,20]"])
    assert rc == 0
    rows = json.loads((out / "runs" / "parity_check__lstm__s0" / "summary.json").read_text())["eval"]
    assert {r["label"]: r["accuracy"] for r in rows}["20"] >= 0.9
