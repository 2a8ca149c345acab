"""Reproducibility: the same suite, seed and machine give the same records bit for bit (wall times
aside); seeds for data, initialisation, validation and test are separate and recorded; the record
names the environment; and task versions keep records of different sampling apart.
"""
import csv
import hashlib
import io
import json
import shutil

import pytest
import torch

from ntm_bench import registry
from ntm_bench.cli import main
from ntm_bench.records import read_summary

SUBSET = ["--tasks", "copy,associative_recall,dynamic_ngrams", "--models", "lstm,ntm,transformer,ngram_optimal",
          "--workers", "1", "--no-report", "--seeds", "0,1"]
TIMES = {"started_at", "finished_at", "wall_s"}


def without_times(obj):
    if isinstance(obj, dict):
        return {k: without_times(v) for k, v in obj.items() if k not in TIMES}
    if isinstance(obj, list):
        return [without_times(v) for v in obj]
    return obj


def curve(run_dir):
    return [without_times(json.loads(line)) for line in (run_dir / "curve.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def twice(tmp_path_factory):
    """The same suite run twice, serially, into two folders."""
    outs = [tmp_path_factory.mktemp(name) for name in ("first", "second")]
    for out in outs:
        assert main(["run", "smoke", "--out", str(out), *SUBSET]) == 0
    return outs


def test_same_suite_and_seed_give_identical_records_except_wall_times(twice):
    a, b = twice
    runs = sorted(p.name for p in (a / "runs").iterdir())
    assert runs == sorted(p.name for p in (b / "runs").iterdir()) and len(runs) == 20
    for run_id in runs:
        sa, sb = read_summary(a / "runs" / run_id), read_summary(b / "runs" / run_id)
        assert without_times(sa) == without_times(sb), run_id  # floats compared exactly
        assert sa["eval"], run_id
        if (a / "runs" / run_id / "curve.jsonl").exists():
            assert curve(a / "runs" / run_id) == curve(b / "runs" / run_id), run_id
        if (a / "runs" / run_id / "best.pt").exists():
            wa, wb = (torch.load(d / "runs" / run_id / "best.pt", weights_only=True) for d in (a, b))
            assert all(torch.equal(wa[k], wb[k]) for k in wa), run_id


def test_seeds_are_separate_and_recorded_with_the_environment(twice):
    s = read_summary(twice[0] / "runs" / "copy__lstm__s1")
    assert (s["seed"], s["init_seed"], s["data_seed"]) == (1, 1, 10_001)
    assert s["eval_seed"] == 1234 and s["train"]["val_seed"] == 999
    env = s["env"]
    assert env["device"] == "cpu" and env["deterministic"] is True and env["threads"] == 1
    assert env["torch"].startswith("2.13") and {"python", "numpy", "pandas", "git_commit", "host"} <= set(env)


def test_different_seeds_train_differently_but_are_tested_on_the_same_sequences(twice):
    runs = twice[0] / "runs"
    s0, s1 = read_summary(runs / "copy__lstm__s0"), read_summary(runs / "copy__lstm__s1")
    assert s0["eval"] != s1["eval"]  # different initialisation and training data
    # the optimal predictor learns nothing, so equal results prove equal test sequences across seeds
    r0, r1 = (read_summary(runs / f"dynamic_ngrams__ngram_optimal__s{k}") for k in (0, 1))
    assert r0["eval"] == r1["eval"] and abs(r0["eval"][0]["excess_bits"]) < 1e-5


def test_records_of_an_older_task_version_are_shown_apart_never_averaged(twice, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(twice[0], out)
    old = out / "runs" / "copy__lstm__s1" / "summary.json"
    record = json.loads(old.read_text())
    record["task"]["version"] = 0  # as if recorded before the task's sampling changed
    old.write_text(json.dumps(record))
    capsys.readouterr()
    assert main(["leaderboard", str(out), "--format", "csv"]) == 0
    rows = [r for r in csv.reader(io.StringIO(capsys.readouterr().out)) if r]
    head = rows[0]
    lstm = {(r[head.index("task")], r[head.index("length")]): r for r in rows[1:] if r[head.index("model")] == "lstm"}
    assert {t for t, _ in lstm} >= {"copy@v0", "copy@v1"} and "copy" not in {t for t, _ in lstm}
    for task in ("copy@v0", "copy@v1"):
        assert lstm[(task, "8")][head.index("n_seeds")] == "1"  # one seed each: never pooled
    bits = head.index("bits")
    s0 = read_summary(out / "runs" / "copy__lstm__s0")
    assert float(lstm[("copy@v1", "8")][bits]) == next(e["bits"] for e in s0["eval"] if e["label"] == "8")


# Each task's sampling, pinned to its version: when a task samples differently, bump its version
# (records of the old version then stop counting) and update the fingerprint here.
SAMPLING = {
    "associative_recall": (1, "d0d3054e02f15fd6"),
    "copy": (1, "a20a486509b6b0ef"),
    "dynamic_ngrams": (1, "2e05123fc1cf32fb"),
    "priority_sort": (1, "b5a19d53d7a3680b"),
    "repeat_copy": (1, "067b9f36c886a6a3"),
    # the Chomsky-hierarchy tasks (tasks/chomsky/)
    "binary_addition": (1, "90be27f324bc2e9a"),
    "binary_multiplication": (1, "02e395bb3e1e9c1e"),
    "bucket_sort": (1, "85e1ff39a4aa52be"),
    "compute_sqrt": (1, "aec6aba30ed5d75a"),
    "cycle_navigation": (1, "a2e9b250d23044e7"),
    "duplicate_string": (1, "b6f6a30682e56f99"),
    "even_pairs": (1, "41f614f3417873c3"),
    "missing_duplicate_string": (1, "d891ffea9d1acc25"),
    "modular_arithmetic": (1, "4ffe07642d47ad1d"),
    "modular_arithmetic_brackets": (1, "0e3ae5c63078f00f"),
    "odds_first": (1, "cfa88c518e055ec5"),
    "parity_check": (1, "7e2a87c099d40b2f"),
    "reverse_string": (1, "a8939a38af86c380"),
    "solve_equation": (1, "932e18e0264b209a"),
    "stack_manipulation": (1, "79f22f8327f7f54d"),
}


def sampling_fingerprint(cls) -> str:
    """sha256 of a batch at the low and high corners of the default training range, seed 0."""
    task = cls()
    lo = tuple(v[0] for v in cls.default_train.values())
    hi = tuple(v[1] for v in cls.default_train.values())
    points = [p[0] if len(p) == 1 else p for p in (lo, hi, hi, lo)]
    batch = task.sample(4, points, torch.Generator().manual_seed(0))
    h = hashlib.sha256()
    for t in batch:
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


@pytest.mark.parametrize("name", sorted(SAMPLING))
def test_a_task_samples_as_its_version_says(name):
    cls = registry.get_task(name).cls
    assert (cls.version, sampling_fingerprint(cls)) == SAMPLING[name], (
        f"task {name!r} samples differently from version {SAMPLING[name][0]}: bump its version and update SAMPLING")


def test_every_registered_task_has_a_pinned_sampling_fingerprint():
    assert set(registry.task_names()) <= set(SAMPLING)
