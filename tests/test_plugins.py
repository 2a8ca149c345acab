"""Plugins: a user's model or task from one file, the contract checked at load and run time, the
plugin's source as part of the run's identity, the suite's preset, and records without machine paths."""
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ntm_bench import registry
from ntm_bench.cli import main
from ntm_bench.contract import check_trace
from ntm_bench.errors import BenchError
from ntm_bench.records import read_summary
from ntm_bench.report.load import load_results
from ntm_bench.suite import load_suite, parse_suite

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SMOKE = ["run", "smoke", "--workers", "1", "--no-report", "train.steps=2", "train.eval_every=2"]

# Four models with a trace() each: three break the contract in different ways, one keeps it.
TRACES = '''
import torch
from torch import nn
from ntm_bench import Model, register_model


class Base(Model):
    def __init__(self, input_size, output_size):
        super().__init__()
        self.rnn = nn.GRU(input_size, 8, batch_first=True)
        self.out = nn.Linear(8, output_size)
        self.keys = nn.Linear(8, 6)

    def forward(self, x, valid=None):
        return self.out(self.rnn(x)[0])


@register_model("one_tuple", presets={"tiny": {"*": {}}})
class OneTuple(Base):
    def trace(self, x):
        return (self(x),)


@register_model("raises")
class Raises(Base):
    def trace(self, x, valid=None):
        raise RuntimeError("no attention here")


@register_model("flat_weights")
class FlatWeights(Base):
    def trace(self, x):
        return self(x), {"read0": torch.ones(x.shape[0], 6)}


@register_model("good_trace")
class GoodTrace(Base):
    def trace(self, x, valid=None):
        h = self.rnn(x)[0]
        return self.out(h), {"read0": torch.softmax(self.keys(h), -1)}
'''


pytestmark = pytest.mark.usefixtures("restore_registry")


def summaries(out: Path) -> dict:
    return {p.name: read_summary(p) for p in sorted((out / "runs").iterdir())}


# ----------------------------------------------------------------------------------------------
# The model contract at run time: an optional trace() that fails costs the pictures, not the run

@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    snap = registry.reset_for_tests()
    tmp = tmp_path_factory.mktemp("traces")
    (tmp / "traces.py").write_text(TRACES)
    rc = main([*SMOKE, "--tasks", "copy", "--models", "one_tuple,raises,flat_weights,good_trace",
               "--plugin", str(tmp / "traces.py"), "--out", str(tmp / "out")])
    registry.reset_for_tests(snap)
    return rc, tmp / "out"


@pytest.mark.parametrize("model, why", [
    ("one_tuple", "trace() returned a 1-tuple, expected (logits (B, T, outputs), {head name: weights (B, T, N)})"),
    ("raises", "trace() raised RuntimeError: no attention here"),
    ("flat_weights", "trace() weights of head 'read0': got (32, 6), expected a float tensor (B, T, N) = (32, 17, N)"),
])
def test_a_failing_trace_still_trains_and_evaluates_and_the_record_says_why_the_pictures_are_missing(traced, model, why):
    rc, out = traced
    assert rc == 0
    s = summaries(out)[f"copy__{model}__s0"]
    assert s["status"] == "ok" and s["training"]["steps"] == 2
    assert [row["point"] for row in s["eval"]] == [[3], [5], [8]]
    assert s["fingerprints"] is None and not (out / "runs" / f"copy__{model}__s0" / "attention.pt").exists()
    assert s["trace_error"] == f"plugin '../traces.py', model '{model}': {why}"
    problems = load_results(out).problems
    assert f"copy__{model}__s0: no memory picture or fingerprints: {s['trace_error']}" in problems


def test_a_trace_that_keeps_the_contract_gives_attention_and_fingerprints(traced):
    _, out = traced
    s = summaries(out)["copy__good_trace__s0"]
    assert s["trace_error"] is None and set(s["fingerprints"]["heads"]) == {"read0"}
    att = torch.load(out / "runs" / "copy__good_trace__s0" / "attention.pt")
    assert att["weights"]["read0"].shape[1] == 6


def test_the_model_contract_tests_run_on_a_plugins_models_when_named():
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "gru-copy",
                           "tests/test_model_contract.py"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NTM_BENCH_PLUGINS": str(EXAMPLES / "my_model.py")})
    assert proc.returncode == 0 and "5 passed" in proc.stdout, proc.stdout[-2000:]


def test_check_trace_accepts_the_documented_form_and_names_what_is_wrong():
    x = torch.zeros(2, 5, 3)
    good = (torch.zeros(2, 5, 4), {"write0": torch.full((2, 5, 7), 1 / 7)})
    assert check_trace(good, x, 4, "model 'm'") == good
    for out, fragment in [
        (torch.zeros(2, 5, 4), "returned a Tensor"),
        ((torch.zeros(2, 5, 3), good[1]), "logits (2, 5, 3), expected (2, 5, 4)"),
        ((good[0], {}), "an empty dict"),
        ((good[0], {"w": torch.zeros(2, 4, 7)}), "head 'w': got (2, 4, 7)"),
        ((good[0], {"w": -torch.ones(2, 5, 7)}), "finite and non-negative"),
    ]:
        with pytest.raises(BenchError, match="model 'm': trace()") as e:
            check_trace(out, x, 4, "model 'm'")
        assert fragment in str(e.value)


# ----------------------------------------------------------------------------------------------
# A task from one file

def test_the_base_classes_come_from_the_package():
    import ntm_bench
    from tasks.base import Batch, Task

    assert ntm_bench.Task is Task and ntm_bench.Batch is Batch
    assert issubclass(ntm_bench.Model, torch.nn.Module)
    assert (ROOT / "tasks" / "base.py").is_file() and (ROOT / "baselines" / "lstm.py").is_file()


def test_reverse_copy_worked_example_from_its_docstring():
    registry.load_plugin(EXAMPLES / "reverse_copy.py")
    task = registry.get_task("reverse_copy").cls()
    a, b = [1, 0, 1, 1, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0, 0, 1]
    batch = task.encode(bits=torch.tensor([[a, b]]).float())
    assert batch.inputs[0].tolist() == [[*a, 0], [*b, 0], [0] * 8 + [1], [0] * 9, [0] * 9]
    assert batch.targets[0].tolist() == [[0] * 8, [0] * 8, [0] * 8, b, a]
    assert batch.mask[0].tolist() == [False, False, False, True, True] and batch.valid.all()


def test_reverse_copy_mixed_batch_equals_each_sequence_alone():
    registry.load_plugin(EXAMPLES / "reverse_copy.py")
    task = registry.get_task("reverse_copy").cls()
    mixed = task.sample(3, [4, 1, 2], torch.Generator().manual_seed(0))
    for i, L in enumerate([4, 1, 2]):
        alone = task.encode(bits=mixed.inputs[i:i + 1, :L, :8], length=[L])
        T = 2 * L + 1
        for got, want in zip(mixed, alone):
            assert torch.equal(got[i, :T], want[0])
        assert not mixed.valid[i, T:].any() and not mixed.mask[i, T:].any()


def test_a_task_plugin_runs_in_smoke_with_its_own_ranges_and_its_record_names_the_plugin(tmp_path):
    out = tmp_path / "out"
    rc = main([*SMOKE, "--plugin", str(EXAMPLES / "reverse_copy.py"), "--tasks", "reverse_copy",
               "--models", "lstm,ntm", "--out", str(out)])
    assert rc == 0
    for run_id in ("reverse_copy__lstm__s0", "reverse_copy__ntm__s0"):
        s = read_summary(out / "runs" / run_id)
        assert s["status"] == "ok", s["error"]
        assert s["task"]["version"] == 1 and s["task"]["train_range"] == {"length": [1, 20]}
        assert [r["point"] for r in s["eval"]] == [[10], [20], [30], [50]]
        assert s["task"]["plugin"] == os.path.relpath(EXAMPLES / "reverse_copy.py", out)
        assert s["model"]["plugin"] is None and set(s["plugin_sha256"]) == {"task"}
    assert read_summary(out / "runs" / "reverse_copy__ntm__s0")["fingerprints"]["heads"]


def test_one_plugin_file_may_register_a_task_and_a_model(tmp_path):
    both = tmp_path / "both.py"
    both.write_text((EXAMPLES / "reverse_copy.py").read_text() + "\n" +
                    (EXAMPLES / "my_model.py").read_text().replace("from dataclasses import dataclass\n", ""))
    assert registry.load_plugin(both) == ["gru", "reverse_copy"]
    assert registry.load_plugin(both) == ["gru", "reverse_copy"]  # loaded once per process
    rc = main([*SMOKE, "--plugin", str(both), "--tasks", "reverse_copy", "--models", "gru",
               "--out", str(tmp_path / "out")])
    s = read_summary(tmp_path / "out" / "runs" / "reverse_copy__gru__s0")
    assert rc == 0 and s["status"] == "ok"
    assert set(s["plugin_sha256"]) == {"task", "model"} and s["model"]["plugin"] == "../both.py"


def test_a_plugin_models_outputs_are_rebuilt_from_best_pt_whatever_the_current_folder(tmp_path, monkeypatch):
    from ntm_bench.report.paper_figures import run_samples

    plugin = tmp_path / "mine" / "my_model.py"
    plugin.parent.mkdir()
    plugin.write_text((EXAMPLES / "my_model.py").read_text())
    out = tmp_path / "out"
    assert main([*SMOKE, "--plugin", str(plugin), "--tasks", "copy", "--models", "gru", "--out", str(out)]) == 0
    run = out / "runs" / "copy__gru__s0"
    assert json.loads((run / "config.json").read_text())["plugins"] == ["../mine/my_model.py"]  # relative to out
    monkeypatch.chdir(run)  # where ../mine/my_model.py is no file
    results = load_results(out)
    samples, source = run_samples(results, "copy__gru__s0", run)
    assert source == "best.pt" and len(samples) == 3, results.problems


def test_list_shows_what_a_plugin_registers(capsys):
    assert main(["list", "--plugin", str(EXAMPLES / "reverse_copy.py"), "--plugin", str(EXAMPLES / "my_model.py")]) == 0
    out = capsys.readouterr().out
    assert any(line.split()[:2] == ["reverse_copy", "v1"] and "plugin" in line for line in out.splitlines())
    assert any(line.split()[:1] == ["gru"] and "plugin" in line for line in out.splitlines())
    lines = out.splitlines()  # under each task, its args with their defaults
    task = next(i for i, x in enumerate(lines) if x.split()[:1] == ["repeat_copy"])
    assert lines[task + 1].split() == ["args:", "bits=8,", "train_repeats=None,", "delimiter=False"]


# ----------------------------------------------------------------------------------------------
# Run identity and presets

def test_runs_of_built_ins_keep_their_config_hashes_so_the_shipped_results_stay_complete():
    """The suite the shipped results were run with (from their suite.json, whatever quick.yaml says
    today) gives every run the config_hash recorded then: a rerun into that folder skips them all."""
    ref = ROOT / "results" / "quick-reference"
    record = json.loads((ref / "suite.json").read_text())
    raw = {key: record[key] for key in ("name", "seeds", "train", "eval", "overrides")}
    raw["tasks"] = {label: {k: v for k, v in spec.items() if k != "label"} for label, spec in record["tasks"].items()}
    raw["models"] = {label: {k: v for k, v in spec.items() if k != "label"} for label, spec in record["models"].items()}
    runs = parse_suite(raw).runs()
    assert len(runs) == 63  # 5 tasks x NTM, DNC, LSTM, Transformer x 3 seeds, and the N-gram reference
    for spec in runs:
        assert spec.plugin_sha256 == {}
        assert read_summary(ref / "runs" / spec.run_id)["config_hash"] == spec.config_hash(), spec.run_id
    # a train field added since (config.LATER_TRAIN_FIELDS) counts once it leaves its default
    cosine = dataclasses.replace(runs[0], train={**runs[0].train, "lr_schedule": "cosine"})
    assert cosine.config_hash() != runs[0].config_hash()


def test_an_edited_plugin_reruns_and_the_other_runs_are_skipped(tmp_path, capsys):
    plugin = tmp_path / "mine.py"
    plugin.write_text((EXAMPLES / "my_model.py").read_text())
    argv = [*SMOKE, "--plugin", str(plugin), "--tasks", "copy", "--models", "gru,lstm", "--out", str(tmp_path / "out")]
    assert main(argv) == 0
    runs = tmp_path / "out" / "runs"
    first = read_summary(runs / "copy__gru__s0")
    lstm = (runs / "copy__lstm__s0" / "summary.json").stat().st_mtime_ns
    assert main(argv) == 0 and "2 already complete, 0 to run" in capsys.readouterr().err
    plugin.write_text(plugin.read_text().replace("hidden_size: int = 128", "hidden_size: int = 64"))
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "plugin source of 1 complete run(s) changed since they ran (copy__gru__s0); they run again" in err
    assert "1 already complete, 1 to run" in err
    second = read_summary(runs / "copy__gru__s0")
    assert second["plugin_sha256"]["model"] != first["plugin_sha256"]["model"]
    assert second["config_hash"] != first["config_hash"] and second["run_id"] == first["run_id"]
    assert (runs / "copy__lstm__s0" / "summary.json").stat().st_mtime_ns == lstm


def test_a_plugin_edited_after_planning_fails_its_run_instead_of_running_other_code(tmp_path):
    from ntm_bench.train import build

    plugin = tmp_path / "mine.py"
    plugin.write_text((EXAMPLES / "my_model.py").read_text())
    registry.load_plugin(plugin)
    spec = next(r for r in load_suite("smoke", models=["gru"], tasks=["copy"]).runs([str(plugin)]))
    plugin.write_text(plugin.read_text() + "\n# edited\n")
    with pytest.raises(BenchError, match="source changed after this suite was planned"):
        build(spec)


def test_the_suites_preset_applies_to_a_plugin_model_that_defines_it(capsys):
    registry.load_plugin(EXAMPLES / "my_model.py")
    smoke = load_suite("smoke", models=["gru", "lstm"], tasks=["copy"])
    assert smoke.models["gru"].preset == "tiny"
    assert smoke.runs()[0].model["options"] == {"hidden_size": 8}
    quick = load_suite("quick", models=["gru"], tasks=["copy"])  # quick has no preset
    assert quick.models["gru"].preset is None and quick.runs()[0].model["options"] == {}


def test_a_plugin_model_without_the_suites_preset_runs_with_its_defaults_and_says_so(tmp_path, capsys):
    plugin = tmp_path / "bare.py"
    plugin.write_text((EXAMPLES / "my_model.py").read_text().replace(
        ', presets={"tiny": {"*": {"options": {"hidden_size": 8}}}}', "").replace('"gru"', '"bare"'))
    registry.load_plugin(plugin)
    suite = load_suite("smoke", models=["bare"], tasks=["copy"])
    assert suite.models["bare"].preset is None
    assert "model 'bare' has no preset 'tiny' (the suite's); it runs with its default options" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------
# Records name no absolute machine path

def test_nothing_under_the_output_folder_holds_an_absolute_path(tmp_path):
    plugin = tmp_path / "plugins" / "boom.py"
    plugin.parent.mkdir()
    plugin.write_text((EXAMPLES / "my_model.py").read_text().replace(
        "return self.out(h)", "raise RuntimeError('kaboom')"))
    out = tmp_path / "results" / "out"
    rc = main([*SMOKE, "--plugin", str(plugin), "--tasks", "copy", "--models", "gru,lstm", "--out", str(out)])
    assert rc == 1
    s = read_summary(out / "runs" / "copy__gru__s0")
    assert s["status"] == "failed" and s["error"].startswith("plugin '../../plugins/boom.py': RuntimeError: kaboom")
    suite = json.loads((out / "suite.json").read_text())
    assert suite["source"] == "ntm_bench/suites/smoke.yaml" and suite["plugins"] == ["../../plugins/boom.py"]
    trace = (out / "runs" / "copy__gru__s0" / "error.txt").read_text()
    assert 'File "../../plugins/boom.py"' in trace and 'File "<ntm-bench>/ntm_bench/train.py"' in trace
    roots = {str(tmp_path), str(ROOT), str(Path.home())}
    for path in out.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".jsonl", ".txt", ".md", ".csv", ".tex", ".html"):
            text = path.read_text()
            assert not any(root in text for root in roots), path
