"""The speed benchmark's plumbing (not its figures: timings are never asserted in tests)."""
import json

from ntm_bench import speed, speed_solve
from ntm_bench.cli import main


def test_speed_reports_every_key_scripts_rely_on_and_the_ratio_is_computed_from_the_rows(monkeypatch):
    tiny = speed.SpeedSettings(train_sequences=4, repeats=1, eval_length=3, eval_rows=16, eval_batch=2,
                               scaling_lengths=(2, 3, 4), scaling_rows=(8, 12, 16), scaling_batch=2)
    monkeypatch.setattr(speed, "QUICK", tiny)
    result = speed.measure(quick=True, batch_sizes=(1, 2), models=("ntm", "ntm_python", "nn_lstm"), isolate=False)
    for key in ("ntm_b32_seq_per_s", "nn_lstm_b32_seq_per_s", "ntm_to_nn_lstm_ratio", "ntm_b1_seq_per_s"):
        assert key in result
    assert result["ntm_b1_seq_per_s"] == result["models"]["ntm"]["train"]["1"]["seq_per_s"] > 0
    assert result["ntm_b32_seq_per_s"] is None  # batch 32 was not measured: no made-up figure
    for name in ("ntm", "ntm_python", "nn_lstm"):
        row = result["models"][name]
        assert row["status"] == "ok" and row["eval"]["seq_per_s"] > 0
    assert result["models"]["ntm"]["params"] == result["models"]["ntm_python"]["params"]
    scaling = result["eval_scaling"]
    assert [r["length"] for r in scaling["by_length"]] == [2, 3, 4] and scaling["by_length"][0]["relative"] == 1
    assert result["speedups"]["ntm"]["vs"] == "ntm_python"
    assert result["speedups"]["ntm"]["train"]["1"] == (result["models"]["ntm"]["train"]["1"]["seq_per_s"]
                                                       / result["models"]["ntm_python"]["train"]["1"]["seq_per_s"])
    text = speed.format_speed(result)
    assert "ntm_python" in text and "nn_lstm" in text and "ntm / ntm_python" in text
    assert json.loads(json.dumps(result))["ntm_b1_seq_per_s"] == result["ntm_b1_seq_per_s"]  # --json works


def test_every_ntm_path_is_a_speed_row_and_the_papers_sizes_run_on_the_declared_paths(monkeypatch):
    rows = speed.speed_rows()
    assert {"ntm", "ntm_python", "ntm_plain", "ntm_sort", "ntm_sort_python", "ntm_sort_plain", "ntm_ff",
            "ntm_ff_python", "ntm_ff_plain", "lstm", "transformer"} <= set(rows)
    assert [rows[n][1].baseline for n in ("ntm", "ntm_python", "ntm_sort", "ntm_sort_python")] == \
        ["ntm_python", "ntm_plain", "ntm_sort_python", "ntm_sort_plain"]
    tiny = speed.SpeedSettings(train_sequences=2, repeats=1, eval_length=3, eval_rows=16, eval_batch=2,
                               scaling_lengths=(2, 3, 4), scaling_rows=(8, 12, 16), scaling_batch=2)
    monkeypatch.setattr(speed, "QUICK", tiny)
    built = {name: speed._build(name, "cpu") for name in ("ntm_sort", "ntm_ff")}
    assert [built["ntm_sort"].cfg.controller_layers, built["ntm_sort"].cfg.read_heads] == [2, 5]
    assert [built["ntm_ff"].cfg.controller, built["ntm_ff"].cfg.write_heads] == ["feedforward", 4]
    names = ("ntm_ff", "ntm_ff_python", "ntm_ff_plain")
    result = speed.measure(quick=True, batch_sizes=(1,), models=names, isolate=False)
    for name in names:
        assert result["models"][name]["status"] == "ok"
    assert len({result["models"][n]["params"] for n in names}) == 1
    r = result["speedups"]["ntm_ff_python"]
    assert r["vs"] == "ntm_ff_plain" and result["speedups"]["ntm_ff"]["vs"] == "ntm_ff_python"
    assert r["eval"] == result["models"]["ntm_ff_python"]["eval"]["seq_per_s"] / result["models"]["ntm_ff_plain"]["eval"]["seq_per_s"]


def test_speed_rejects_an_unknown_device_with_one_line(capsys):
    assert main(["speed", "--device", "tpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "tpu" in err[0] and "cpu" in err[0]


def test_copy_solve_median_counts_unsolved_seeds_as_infinitely_slow():
    assert speed_solve._median_inf([3.0, None, 1.0]) == 3.0
    assert speed_solve._median_inf([3.0, None, None]) is None
    assert speed_solve._median_inf([2.0, 4.0]) == 3.0
    assert speed_solve._median_inf([2.0, None]) is None
