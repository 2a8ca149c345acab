"""Faults of a model: a loss that turns NaN (caught at its step, recorded with nulls, or restarted from
the last good state) and plugin models that misbehave (each named with its problem; the other runs
finish). The `smoke` suite with a few steps, so every test takes seconds."""
import json

import pytest

from ntm_bench.cli import main
from ntm_bench.records import read_summary
from test_faults import leaderboard_csv, write_plugin

pytestmark = pytest.mark.usefixtures("restore_registry")


# ---------------------------------------------------------------------------------------------
# Divergence

NAN_AT_STEP_3 = """
@register_model("nan_at_step")
class NanAtStep(nn.Module):
    \"\"\"Fine, except that its 3rd training forward pass returns NaN; and NaN on inputs longer than 15 steps.\"\"\"
    def __init__(self, i, o):
        super().__init__()
        self.lin = nn.Linear(i, o)
        self.calls = 0

    def forward(self, x):
        y = self.lin(x)  # (B, T, out)
        if self.training:
            self.calls += 1
            return y * float("nan") if self.calls == 3 else y
        return y * float("nan") if x.shape[1] > 15 else y
"""


def _nan_run(tmp_path, *overrides):
    plugin = write_plugin(tmp_path / "nan_model.py", NAN_AT_STEP_3)
    out = tmp_path / "out"
    rc = main(["run", "smoke", "--out", str(out), "--no-report", "--workers", "1", "--tasks", "copy", "--models", "nan_at_step",
               "--plugin", str(plugin), "train.eval_every=2", "train.steps=6", *overrides])
    return rc, out, read_summary(out / "runs" / "copy__nan_at_step__s0")


def test_nan_loss_is_caught_at_its_step_and_recorded_as_diverged_with_nulls_not_nans(tmp_path, capsys):
    rc, out, s = _nan_run(tmp_path, "tasks.copy.test=[3,20]")
    assert rc == 0 and s["status"] == "diverged"
    assert s["training"]["diverged_at"] == 3 and s["training"]["stopped_by"] == "diverged"
    assert "training loss is not finite at step 3" in s["error"] and "nan_model.py" in s["error"]
    text = (out / "runs" / "copy__nan_at_step__s0" / "summary.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    by_len = {row["label"]: row for row in s["eval"]}
    assert isinstance(by_len["3"]["bits"], float) and by_len["20"]["bits"] is None  # best (step 2) weights
    table = leaderboard_csv(out, capsys)
    assert "nan" not in table.lower().replace("nan_at_step", "")


def test_divergence_with_restart_goes_back_to_the_last_good_state_with_a_lower_learning_rate(tmp_path):
    rc, out, s = _nan_run(tmp_path, "train.on_divergence=restart", "train.restart_lr_factor=0.5")
    assert rc == 0 and s["status"] == "ok"
    assert s["training"]["restarts"] == 1 and s["training"]["steps"] == 6
    rows = [json.loads(line) for line in (out / "runs" / "copy__nan_at_step__s0" / "curve.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4, 6]
    assert rows[1]["lr"] == rows[0]["lr"] * 0.5 == rows[2]["lr"]


# ---------------------------------------------------------------------------------------------
# Misbehaving plugins

BAD_MODELS = """
@register_model("raises_in_init")
class RaisesInInit(nn.Module):
    def __init__(self, i, o):
        raise ValueError("no such layer")
    def forward(self, x):  # a class without one is refused when the plugin loads
        return x

@register_model("wrong_shape")
class WrongShape(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.lin = nn.Linear(i, o + 1)
    def forward(self, x):
        return self.lin(x)

@register_model("not_a_tensor")
class NotATensor(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.lin = nn.Linear(i, o)
    def forward(self, x):
        return (self.lin(x),)

@register_model("always_nan")
class AlwaysNan(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.lin = nn.Linear(i, o)
    def forward(self, x):
        return self.lin(x) * float("nan")
"""


def test_misbehaving_plugin_models_fail_with_the_plugin_and_the_problem_named_and_the_others_finish(tmp_path,
                                                                                                   capsys):
    plugin = write_plugin(tmp_path / "bad_models.py", BAD_MODELS)
    out = tmp_path / "out"
    capsys.readouterr()
    rc = main(["run", "smoke", "--out", str(out), "--no-report", "--workers", "1", "--tasks", "copy", "--plugin", str(plugin),
               "--models", "raises_in_init,wrong_shape,not_a_tensor,always_nan,lstm"])
    assert rc == 1
    err = capsys.readouterr().err.splitlines()  # the command line names each failed run and why, once
    line = next(x for x in err if "copy__raises_in_init__s0" in x)
    assert "failed: " in line and "ValueError: no such layer" in line
    s = {p.name.split("__")[1]: read_summary(p) for p in (out / "runs").iterdir()}
    want = {"raises_in_init": ("failed", "ValueError: no such layer"),
            "wrong_shape": ("failed", "9), expected (4, "),
            "not_a_tensor": ("failed", "returned tuple, expected a tensor"),
            "always_nan": ("diverged", "the training loss is not finite at step 1")}
    for model, (status, problem) in want.items():
        assert s[model]["status"] == status, (model, s[model]["error"])
        assert "plugin '../bad_models.py'" in s[model]["error"] and problem in s[model]["error"], s[model]["error"]
    assert s["lstm"]["status"] == "ok"
