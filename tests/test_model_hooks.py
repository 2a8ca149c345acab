"""What a model declares for the harness when it registers, never found by its name: a prepare(device)
hook run before its runs start, and its rows in the speed benchmark. A plugin uses the same
mechanism as the NTM (which builds its C++ kernels in its hook)."""
import json
from pathlib import Path

import pytest

from ntm_bench import registry, speed
from ntm_bench.cli import main
from ntm_bench.errors import BenchError
from ntm_bench.records import read_summary

PLUGIN = '''
import json, os
from dataclasses import dataclass

from torch import nn
from ntm_bench import SpeedRow, register_model


@dataclass(frozen=True)
class Cfg:
    hidden: int = 8


def prepare(device):  # e.g. build kernels once, before any run; here: say when it ran
    with open(os.environ["HOOK_LOG"], "a") as f:
        f.write(json.dumps({"device": device, "runs_so_far": len(os.listdir(os.environ["RUNS"]))}) + "\\n")


@register_model("hooked", config=Cfg, presets={"tiny": {"*": {}}}, prepare=prepare,
                speed=(SpeedRow("hooked", note="a GRU"), SpeedRow("hooked_wide", options={"hidden": 16},
                                                                    baseline="hooked")))
class Hooked(nn.Module):
    def __init__(self, input_size, output_size, cfg):
        super().__init__()
        self.rnn = nn.GRU(input_size, cfg.hidden, batch_first=True)
        self.out = nn.Linear(cfg.hidden, output_size)

    def forward(self, x, valid=None):
        return self.out(self.rnn(x)[0])
'''


def test_a_plugin_models_prepare_hook_runs_once_before_its_runs(tmp_path, monkeypatch, restore_registry):
    plugin = tmp_path / "hooked.py"
    plugin.write_text(PLUGIN)
    out = tmp_path / "out"
    (out / "runs").mkdir(parents=True)
    monkeypatch.setenv("HOOK_LOG", str(tmp_path / "hook.log"))
    monkeypatch.setenv("RUNS", str(out / "runs"))
    assert main(["run", "smoke", "--plugin", str(plugin), "--models", "hooked", "--tasks", "copy,repeat_copy",
                 "--seeds", "0", "--out", str(out), "--workers", "1", "--no-report", "train.steps=2",
                 "train.eval_every=2"]) == 0
    calls = [json.loads(line) for line in (tmp_path / "hook.log").read_text().splitlines()]
    assert calls == [{"device": "cpu", "runs_so_far": 0}]  # once for both runs, before either started
    assert {read_summary(p)["status"] for p in (out / "runs").iterdir()} == {"ok"}


def test_a_plugin_models_speed_rows_are_measured_and_compared_as_declared(tmp_path, monkeypatch, restore_registry):
    plugin = tmp_path / "hooked.py"
    plugin.write_text(PLUGIN)
    registry.load_plugin(plugin)
    monkeypatch.setenv("HOOK_LOG", str(tmp_path / "hook.log"))
    monkeypatch.setenv("RUNS", str(tmp_path))
    assert {"hooked", "hooked_wide", "ntm", "lstm"} <= set(speed.speed_rows())
    tiny = speed.SpeedSettings(train_sequences=2, repeats=1, eval_length=3, eval_rows=16, eval_batch=2,
                               scaling_lengths=(2, 3, 4), scaling_rows=(8, 12, 16), scaling_batch=2)
    monkeypatch.setattr(speed, "QUICK", tiny)
    result = speed.measure(quick=True, batch_sizes=(1,), models=("hooked", "hooked_wide"), isolate=False)
    rows = result["models"]
    assert rows["hooked_wide"]["params"] > rows["hooked"]["params"]  # its options applied
    ratio = result["speedups"]["hooked_wide"]
    assert ratio["vs"] == "hooked"
    assert ratio["train"]["1"] == rows["hooked_wide"]["train"]["1"]["seq_per_s"] / rows["hooked"]["train"]["1"]["seq_per_s"]
    assert (tmp_path / "hook.log").is_file()  # its prepare hook ran before the measurements
    assert "hooked_wide / hooked" in speed.format_speed(result)


def test_a_bad_declaration_is_refused_when_the_model_registers(restore_registry):
    from torch import nn

    class M(nn.Module):
        def forward(self, x, valid=None):
            return x

    with pytest.raises(BenchError, match="prepare must be a function"):
        registry.register_model("bad_hook", prepare="build")(M)
    with pytest.raises(BenchError, match="speed must list SpeedRow"):
        registry.register_model("bad_rows", speed=({"name": "x"},))(M)


def test_a_prepare_hook_that_fails_is_one_line_of_error_before_anything_is_written(tmp_path, capsys,
                                                                                    restore_registry):
    plugin = tmp_path / "broken.py"
    plugin.write_text(PLUGIN.replace('with open(os.environ["HOOK_LOG"], "a") as f:',
                                     'raise OSError("no compiler")\n    with open(os.environ["HOOK_LOG"]) as f:'))
    out = tmp_path / "out"
    assert main(["run", "smoke", "--plugin", str(plugin), "--models", "hooked", "--tasks", "copy", "--seeds", "0",
                 "--out", str(out), "--workers", "1", "--no-report"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "prepare('cpu') raised OSError: no compiler" in err[-1] and "broken.py" in err[-1]
    assert not out.exists()
