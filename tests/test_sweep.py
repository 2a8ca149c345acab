"""Sweeps: expansion into runs (product, run ids, which runs get which values), the command-line form
equals the YAML form, records name their sweep point, reruns skip complete runs, and reports pick per
(task, model) the configuration with the best validation score, never a test point."""
import json
import shutil
from pathlib import Path

import pytest
import yaml

import ntm_bench.runner
from ntm_bench.cli import main
from ntm_bench.config import sweep_label
from ntm_bench.records import read_summary
from ntm_bench.report import tables
from ntm_bench.report.build import build_report
from ntm_bench.report.load import load_results
from ntm_bench.suite import load_suite

FIXTURES = Path(__file__).parent / "fixtures" / "records"
SUITE = {
    "name": "mini",
    "train": {"steps": 4, "lr": 0.5},
    "tasks": {"copy": {"train_range": {"length": [1, 3]}, "test": [2, 5]},
              "dynamic_ngrams": {"train_range": {"length": [20, 20]}, "test": [20]}},
    "models": {"lstm": {"preset": "tiny", "train": {"lr": 0.2}}, "ntm": {"preset": "tiny"}, "ngram_optimal": {}},
    "seeds": [0, 1],
}


def write(tmp_path, data, name="suite.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def by_id(suite):
    return {r.run_id: r for r in suite.runs()}


def test_every_combination_is_a_run_with_its_own_id_and_values(tmp_path):
    sweep = {"train.lr": ["1e-3", 3e-4], "train.batch_size": [8, 32], "models.ntm.options.memory_rows": [16, 32]}
    runs = by_id(load_suite(write(tmp_path, {**SUITE, "sweep": sweep}), tasks=["copy"]))
    lstm = [i for i in runs if i.startswith("copy__lstm__")]
    ntm = [i for i in runs if i.startswith("copy__ntm__")]
    assert len(lstm) == 2 * 2 * 2 and len(ntm) == 2 * 2 * 2 * 2  # the ntm's own key multiplies only its runs
    r = runs["copy__lstm__batch_size=8,lr=0.0003__s1"]
    assert (r.train["lr"], r.train["batch_size"], r.seed) == (3e-4, 8, 1)
    assert r.sweep == {"train.batch_size": 8, "train.lr": 3e-4}
    assert r.train["lr"] == 3e-4  # the swept value wins over the model's own train.lr (0.2)
    r = runs["copy__ntm__memory_rows=32,batch_size=32,lr=0.001__s0"]
    assert (r.model["options"]["memory_rows"], r.train["batch_size"], r.train["lr"]) == (32, 32, 1e-3)
    assert r.sweep == {"models.ntm.options.memory_rows": 32, "train.batch_size": 32, "train.lr": 1e-3}
    assert "memory_rows" not in runs["copy__lstm__batch_size=8,lr=0.001__s0"].model["options"]


def test_runs_without_a_sweep_point_keep_their_ids_and_identity(tmp_path):
    plain = by_id(load_suite(write(tmp_path, SUITE)))
    assert set(plain) == {f"{t}__{m}__s{s}" for t in ("copy", "dynamic_ngrams") for m in ("lstm", "ntm")
                          for s in (0, 1)} | {"dynamic_ngrams__ngram_optimal__s0", "dynamic_ngrams__ngram_optimal__s1"}
    assert all(r.sweep == {} for r in plain.values())
    swept = by_id(load_suite(write(tmp_path, {**SUITE, "sweep": {"models.lstm.train.lr": [0.2, 0.1]}})))
    for run_id in ("copy__ntm__s0", "dynamic_ngrams__ngram_optimal__s1"):  # not swept: the same run
        assert swept[run_id].config_hash() == plain[run_id].config_hash()
    # train.* keys leave the reference predictor (it does not train) alone
    ids = by_id(load_suite(write(tmp_path, {**SUITE, "sweep": {"train.lr": [0.1, 0.2]}})))
    assert [i for i in ids if "ngram_optimal" in i] == ["dynamic_ngrams__ngram_optimal__s0",
                                                        "dynamic_ngrams__ngram_optimal__s1"]


def test_run_id_labels_are_readable_filesystem_safe_and_disambiguated():
    assert sweep_label({"train.batch_size": 8, "train.lr": 1e-3}) == "batch_size=8,lr=0.001"
    assert sweep_label({"train.lr": 1e-5, "train.optimizer": "graves_rmsprop"}) == "lr=1e-05,optimizer=graves_rmsprop"
    assert sweep_label({"models.m.options.x": [1, 2], "models.m.train.x": None}) == "options.x=_1_2_,train.x=None"


def _run_suite_of(argv, monkeypatch):
    """The suite that `run_bench.py run ...` would run (nothing runs)."""
    seen = {}

    class Stop(Exception):
        pass

    def fake(suite, *a, **k):
        seen["suite"] = suite
        raise Stop

    monkeypatch.setattr(ntm_bench.runner, "run_suite", fake)
    with pytest.raises(Stop):
        main(argv)
    return seen["suite"]


def test_the_command_line_forms_equal_the_yaml_form(tmp_path, monkeypatch):
    yaml_form = load_suite(write(tmp_path, {**SUITE, "sweep": {"train.lr": ["1e-3", "3e-4"],
                                                               "models.ntm.options.memory_rows": [16, 32]}}))
    path = write(tmp_path, SUITE, "plain.yaml")
    flag = _run_suite_of(["run", path, "--sweep", "models.ntm.options.memory_rows=16,32",
                          "--sweep", "train.lr=1e-3,3e-4", "--out", str(tmp_path / "o")], monkeypatch)
    override = _run_suite_of(["run", path, "sweep.train.lr=[1e-3,3e-4]", "--out", str(tmp_path / "o"),
                              "sweep.models.ntm.options.memory_rows=[16,32]"], monkeypatch)
    expected = [r.to_json() for r in yaml_form.runs()]
    assert len(expected) == 2 * (2 * 2 + 2 * 2 * 2) + 2  # tasks x (lstm: lr x seeds + ntm: rows x lr x seeds) + ngram
    assert [r.to_json() for r in flag.runs()] == expected
    assert [r.to_json() for r in override.runs()] == expected
    # --sweep replaces the YAML's values for its key and keeps the other keys
    both = _run_suite_of(["run", write(tmp_path, {**SUITE, "sweep": {"train.lr": [1, 2], "train.steps": [3]}}, "b.yaml"),
                          "--sweep", "train.lr=0.5", "--out", str(tmp_path / "o")], monkeypatch)
    assert [(k.text, v) for k, v in both.sweep] == [("train.lr", (0.5,)), ("train.steps", (3,))]


def test_a_swept_run_records_its_point_and_a_rerun_skips_complete_runs(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["run", "smoke", "--tasks", "copy", "--models", "lstm", "--sweep", "train.lr=1e-3,3e-2",
            "--sweep", "train.batch_size=2,4", "--out", str(out), "--workers", "1", "--no-report"]
    assert main(argv) == 0
    ids = sorted(p.name for p in (out / "runs").iterdir())
    assert ids == [f"copy__lstm__batch_size={b},lr={lr}__s0" for b in (2, 4) for lr in ("0.001", "0.03")]
    s = read_summary(out / "runs" / "copy__lstm__batch_size=4,lr=0.03__s0")
    assert s["sweep"] == {"train.batch_size": 4, "train.lr": 0.03}
    assert (s["train"]["batch_size"], s["train"]["lr"]) == (4, 0.03)
    config = json.loads((out / "runs" / "copy__lstm__batch_size=4,lr=0.03__s0" / "config.json").read_text())
    assert config["sweep"] == s["sweep"]
    assert json.loads((out / "suite.json").read_text())["sweep"] == {"train.batch_size": [2, 4], "train.lr": [1e-3, 3e-2]}
    assert "(1 of 4 by validation)" in capsys.readouterr().out
    victim = out / "runs" / "copy__lstm__batch_size=2,lr=0.03__s0" / "summary.json"
    victim.unlink()
    before = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/summary.json")}
    assert main(argv[:4] + argv[6:] + argv[4:6]) == 0  # the flags in another order: the same runs
    assert "4 runs, 3 already complete, 1 to run" in capsys.readouterr().err
    assert victim.exists()
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())


def _sweep_fixture(tmp_path, configs: dict) -> Path:
    """basic/ with copy/lstm replaced by swept runs: {lr: [(val_bit_errors, val_bits, seq_accuracy), ...]}
    (one run per seed; seq_accuracy is written at every test point; val_bit_errors None: a failed run)."""
    root = tmp_path / "basic"
    shutil.copytree(FIXTURES / "basic", root)
    template = json.loads((root / "runs" / "copy__lstm__s0" / "summary.json").read_text())
    for seed in (0, 1, 2):
        shutil.rmtree(root / "runs" / f"copy__lstm__s{seed}")
    for lr, seeds in configs.items():
        for seed, (errors, bits, acc) in enumerate(seeds):
            s = json.loads(json.dumps(template))
            s.update(run_id=f"copy__lstm__lr={lr}__s{seed}", seed=seed, sweep={"train.lr": lr})
            s["train"]["lr"] = lr
            if errors is None:
                s.update(status="failed", error="boom", eval=[])
                s["training"]["best_val"] = None
            else:
                s["training"]["best_val"] = {"val_bit_errors": errors, "val_bits": bits}
                for e in s["eval"]:
                    e["seq_accuracy"] = acc
            (root / "runs" / s["run_id"]).mkdir()
            (root / "runs" / s["run_id"] / "summary.json").write_text(json.dumps(s))
    return root


def test_reports_pick_the_configuration_by_validation_never_by_test(tmp_path):
    # lr=0.001: fewer validation bit errors (mean 0.3) but nothing right on the test points;
    # lr=0.01: worse validation (0.5) and perfect on the test points. Validation decides.
    root = _sweep_fixture(tmp_path, {0.001: [(0.2, 9.0, 0.0), (0.4, 9.0, 0.0)],
                                     0.01: [(0.5, 1.0, 1.0), (0.5, 1.0, 1.0), (0.5, 1.0, 1.0)]})
    r = load_results(root)
    assert r.picked == {("copy", "lstm"): ("lr=0.001", 2)}
    assert set(r.runs.loc[r.runs["model"] == "lstm", "run_id"]) == {
        "copy__lstm__lr=0.001__s0", "copy__lstm__lr=0.001__s1", "repeat_copy__lstm__s0", "repeat_copy__lstm__s1"}
    assert set(r.evals.loc[(r.evals["task"] == "copy") & (r.evals["model"] == "lstm"), "seq_accuracy"]) == {0.0}
    assert tables.picked_config(r, "copy", "lstm") == "lr=0.001 (1 of 2 by validation)"
    assert tables.picked_config(r, "copy", "ntm") is None
    md = tables.leaderboard(r, "md")
    assert "|  | lstm | lr=0.001 (1 of 2 by validation) | 10 | train | 1352969 | 2.00 ± 0.00 |" in md
    assert "| copy | ntm | — | 10 | train |" in md
    assert "| copy | lstm | lr=0.001 | 1 of 2 (picked) | 0.300 | 9.00 | 2/2 |" in md  # the sweep table
    assert "|  |  | lr=0.01 | 2 of 2 | 0.500 | 1.00 | 3/3 |" in md
    everything = load_results(root, pick=False)
    assert len(everything.runs) == len(r.runs) + 3 and not everything.picked
    # the other pairs are untouched: their tables equal those of the unswept fixture
    basic = load_results(FIXTURES / "basic")
    assert (tables.accuracy_frame(r).query("model != 'lstm' or task != 'copy'").reset_index(drop=True)
            .equals(tables.accuracy_frame(basic).query("model != 'lstm' or task != 'copy'").reset_index(drop=True)))


def test_ties_go_to_fewer_validation_bits_and_a_failed_run_ranks_its_configuration_last(tmp_path):
    root = _sweep_fixture(tmp_path, {0.001: [(0.5, 9.0, 0.0)], 0.01: [(0.5, 2.0, 0.0)],
                                     0.1: [(0.0, 0.0, 1.0), (None, None, None)]})
    r = load_results(root)
    assert r.picked[("copy", "lstm")] == ("lr=0.01", 3)
    scores = r.sweep_scores.query("task == 'copy' and model == 'lstm'")
    assert list(scores["config"]) == ["lr=0.01", "lr=0.001", "lr=0.1"]
    assert list(scores["scored"]) == [1, 1, 1] and list(scores["runs"]) == [1, 1, 2]


def test_the_report_of_a_swept_folder_names_the_pick(tmp_path):
    root = _sweep_fixture(tmp_path, {0.001: [(0.2, 9.0, 0.0)], 0.01: [(0.5, 1.0, 1.0)]})
    build_report(root)
    report = (root / "report.md").read_text()
    assert "copy / lstm: lr=0.001 (1 of 2 by validation)" in report
    assert "| lr=0.01 | 2 of 2 |" in (root / "tables" / "sweep.md").read_text()
