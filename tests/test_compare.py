"""Comparing a model run alone with results run earlier (`--compare-with`, `leaderboard DIR DIR`):
the settings that must match are checked, a mismatch is an error or with --allow-mismatch a caveat,
and the ranking across tasks keeps only models run on the same tasks and seeds."""
import copy
import json
import os
import shutil
from pathlib import Path

import pytest

from ntm_bench import compare
from ntm_bench.cli import main
from ntm_bench.report import paper_figures
from ntm_bench.report.build import build_report
from ntm_bench.report.load import load_results
from ntm_bench.report.ranking import ranking_frames
from ntm_bench.runner import suite_record
from ntm_bench.suite import load_suite

ROOT = Path(__file__).resolve().parent.parent
GRU = str(ROOT / "examples" / "my_model.py")
REVERSE = str(ROOT / "examples" / "reverse_copy.py")
SMOKE = ["run", "smoke", "--workers", "1", "--no-report", "train.steps=2", "train.eval_every=2"]
BOTH = ["--tasks", "copy,repeat_copy", "--seeds", "0,1"]


pytestmark = pytest.mark.usefixtures("restore_registry")


def models_in(csv: str) -> set:
    """The models of a CSV leaderboard."""
    return {row.split(",")[1] for row in csv.splitlines()[1:] if row}


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    """The 'shipped' results: lstm and ntm on copy and repeat copy, seeds 0 and 1."""
    out = tmp_path_factory.mktemp("compare") / "ref"
    assert main([*SMOKE, *BOTH, "--models", "lstm,ntm", "--out", str(out)]) == 0
    return out


def test_a_model_run_alone_joins_the_results_it_is_compared_with(ref, tmp_path, capsys):
    out = tmp_path / "mine"
    assert main([*SMOKE, *BOTH, "--models", "gru", "--plugin", GRU, "--compare-with", str(ref), "--out", str(out)]) == 0
    assert sorted(p.name for p in (out / "runs").iterdir()) == [f"{t}__gru__s{s}" for t in ("copy", "repeat_copy")
                                                                for s in (0, 1)]
    record = json.loads((out / "suite.json").read_text())
    assert record["compare_with"] == [os.path.relpath(ref, out)] and record["allow_mismatch"] is False
    assert "gru" in capsys.readouterr().out.split("lstm")[0]  # the short table has both folders' models
    results = load_results(out)
    assert results.sources == [(".", 4), (os.path.relpath(ref, out), 8)]
    assert set(results.runs["model"]) == {"gru", "lstm", "ntm"} and len(results.runs) == 12
    assert not [p for p in results.problems if "caveat" in p or "leaves out" in p], results.problems
    assert set(ranking_frames(results)[1]["model"]) == {"gru", "lstm", "ntm"}
    assert main(["leaderboard", str(out), "--format", "csv"]) == 0
    assert models_in(capsys.readouterr().out) == {"gru", "lstm", "ntm"}


def test_a_model_run_on_fewer_tasks_or_seeds_is_left_out_of_the_ranking_across_tasks(ref, tmp_path):
    out = tmp_path / "mine"
    assert main([*SMOKE, "--tasks", "copy", "--models", "gru", "--plugin", GRU, "--compare-with", str(ref),
                 "--out", str(out)]) == 0
    results = load_results(out)
    per_task, overall = ranking_frames(results)
    assert set(overall["model"]) == {"lstm", "ntm"}
    assert "gru" in set(per_task.loc[per_task["task"] == "copy", "model"])
    assert ("ranking across tasks leaves out gru: run on copy with seed 0, the ranked models on copy, "
            "repeat_copy with seeds 0, 1") in results.problems
    report = build_report(out)[0].read_text()  # the comparison is recorded: a plain `report DIR` compares again
    rel = os.path.relpath(ref, out)
    assert f"Compared with the runs of `{rel}` (8 run records)" in report
    assert "ranking across tasks leaves out gru" in report.split("## Problems")[1]
    assert str(tmp_path) not in report and str(ROOT) not in report


def test_the_outputs_figure_shows_the_runs_of_the_folders_compared_with(ref, tmp_path):
    out = tmp_path / "mine"
    assert main([*SMOKE, "--tasks", "copy", "--models", "gru", "--plugin", GRU, "--compare-with", str(ref),
                 "--out", str(out)]) == 0
    rows = paper_figures.output_samples(load_results(out), "copy")
    assert {model for model, *_ in rows} == {"gru", "lstm", "ntm"}
    assert all(source in ("best.pt", "outputs.pt") for *_, source in rows)  # lstm has no attention.pt


def test_settings_that_differ_are_an_error_or_with_the_flag_a_caveat(ref, tmp_path, capsys):
    out = tmp_path / "mine"
    argv = [*SMOKE, *BOTH, "--models", "gru", "--plugin", GRU, "--compare-with", str(ref), "--out", str(out),
            "train.steps=3", "tasks.copy.test=[3,9]"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "task 'copy' train.steps is 3 here, 2 in" in err and "task 'copy' test is [3, 9] here, " \
        "[3, 5, 8] in" in err and not out.exists()
    assert main([*argv, "--allow-mismatch"]) == 0
    assert "warning: caveat: task 'repeat_copy' train.steps is 3 here, 2 in" in capsys.readouterr().err
    problems = load_results(out).problems  # suite.json keeps the flag: later reports show the caveats too
    rel = os.path.relpath(ref, out)
    assert f"caveat: task 'copy' train.steps is 3 here, 2 in {rel!r}" in problems
    assert f"caveat: task 'copy' test is [3, 9] here, [3, 5, 8] in {rel!r}" in problems


def test_leaderboard_and_report_take_several_folders(ref, tmp_path, capsys):
    out = tmp_path / "alone"
    assert main([*SMOKE, *BOTH, "--models", "gru", "--plugin", GRU, "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["leaderboard", str(out), "--format", "csv"]) == 0
    assert models_in(capsys.readouterr().out) == {"gru"}
    assert main(["leaderboard", str(out), str(ref), "--format", "csv"]) == 0
    assert models_in(capsys.readouterr().out) == {"gru", "lstm", "ntm"}
    other = tmp_path / "other"
    assert main([*SMOKE, "--tasks", "copy", "--models", "lstm", "--out", str(other), "eval.seed=5"]) == 0
    capsys.readouterr()
    assert main(["leaderboard", str(out), str(other)]) == 2
    assert "eval.seed is 1234 here, 5 in" in capsys.readouterr().err
    assert main(["leaderboard", str(out), str(other), "--allow-mismatch", "--format", "csv"]) == 0
    assert "note: caveat: eval.seed is 1234 here, 5 in" in capsys.readouterr().err


def test_runs_added_to_a_folder_must_be_tested_like_the_runs_in_it(ref, tmp_path, capsys):
    out = tmp_path / "copy_of_ref"
    shutil.copytree(ref, out)
    argv = [*SMOKE, "--tasks", "copy", "--models", "gru", "--plugin", GRU, "--out", str(out), "train.steps=3"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"cannot add runs to {str(out)!r}: task 'copy' train.steps is 3 for the runs added later, 2 in the earlier " \
        "runs" in err
    assert "use another --out, with --compare-with this folder" in err
    assert not (out / "runs" / "copy__gru__s0").exists()
    assert main([*argv, "--allow-mismatch"]) == 0
    record = json.loads((out / "suite.json").read_text())
    assert record["caveats"] == ["caveat: task 'copy' train.steps is 3 for the runs added later, 2 in the earlier runs"]
    results = load_results(out)
    assert record["caveats"][0] in results.problems
    assert any(p.startswith("ranking across tasks leaves out gru") for p in results.problems)


def test_a_folder_takes_runs_of_a_task_it_does_not_have_yet(ref, tmp_path, capsys):
    out = tmp_path / "copy_of_ref"  # README: run quick --plugin examples/reverse_copy.py --tasks reverse_copy
    shutil.copytree(ref, out)
    assert main([*SMOKE, "--plugin", REVERSE, "--tasks", "reverse_copy", "--models", "lstm", "--out", str(out)]) == 0
    assert "no task in common" not in capsys.readouterr().err
    assert set(json.loads((out / "suite.json").read_text())["tasks"]) == {"copy", "repeat_copy", "reverse_copy"}
    assert (out / "runs" / "reverse_copy__lstm__s0" / "summary.json").is_file()
    assert main([*SMOKE, "--plugin", REVERSE, "--tasks", "reverse_copy", "--models", "lstm",
                 "--compare-with", str(ref), "--out", str(tmp_path / "other")]) == 2  # a comparison needs one
    assert "no task in common" in capsys.readouterr().err


def test_which_settings_must_match():
    here = compare.settings(suite_record(load_suite("smoke"), Path("out")), {"copy": [1], "repeat_copy": [1]})
    assert compare.mismatches(here, copy.deepcopy(here), "'ref'") == []
    for key in ("seed", "sequences", "batch_size"):
        there = copy.deepcopy(here)
        there["eval"][key] = 9
        assert compare.mismatches(here, there, "'ref'") == [f"eval.{key} is {here['eval'][key]!r} here, 9 in 'ref'"]
    for key, value in (("steps", 9), ("max_sequences", 9), ("max_seconds", 9.0), ("val_seed", 9), ("val_sequences", 9)):
        there = copy.deepcopy(here)
        there["tasks"]["copy"]["budget"][key] = value
        assert compare.mismatches(here, there, "'ref'") == [
            f"task 'copy' train.{key} is {here['tasks']['copy']['budget'][key]!r} here, {value!r} in 'ref'"]
    for field, value in (("version", [2]), ("args", {"bits": 6}), ("train_range", {"length": [1, 9]}),
                         ("test", [(3,)]), ("task", "other")):
        there = copy.deepcopy(here)
        there["tasks"]["copy"][field] = value
        [line] = compare.mismatches(here, there, "'ref'")
        assert line.startswith(f"task 'copy' {field.replace('_', ' ')} is ")
    lr = suite_record(load_suite("smoke", overrides=["train.lr=0.5", "train.batch_size=2"]), Path("out"))
    assert compare.mismatches(here, compare.settings(lr, {"copy": [1], "repeat_copy": [1]}), "'ref'") == []
    there = copy.deepcopy(here)
    there["tasks"] = {"priority_sort": here["tasks"]["priority_sort"]}
    here_two = copy.deepcopy(here)
    here_two["tasks"] = {"copy": here["tasks"]["copy"]}
    assert compare.mismatches(here_two, there, "'ref'") == ["no task in common (here: copy; in 'ref': priority_sort)"]


def test_each_tasks_resolved_budget_must_match_not_only_the_suites(ref, tmp_path, capsys):
    out = tmp_path / "mine"  # quick sets budgets per task (tasks.dynamic_ngrams.train.steps) and per (task, model)
    base = [*SMOKE, "--tasks", "copy", "--compare-with", str(ref), "--out", str(out)]
    assert main([*base, "--models", "gru", "--plugin", GRU, "tasks.copy.train.steps=10"]) == 2
    assert "task 'copy' train.steps is 10 here, 2 in" in capsys.readouterr().err
    assert main([*base, "--models", "lstm", "models.lstm.train.steps=3"]) == 2
    assert "task 'copy' model 'lstm' train.steps is 3 here, 2 in" in capsys.readouterr().err
    assert not out.exists()


def test_the_same_task_and_model_compare_their_own_budgets_a_model_run_alone_the_tasks():
    suite = load_suite("smoke", tasks=["copy"], models=["lstm", "ntm"], overrides=["models.ntm.train.steps=6"])
    versions = {"copy": [1]}

    def settings(runs):
        return compare.settings(suite_record(suite, Path("out")), versions, compare.budgets_of(
            {"task": r.task, "model": r.model, "train": r.train} for r in runs))

    both, lstm = settings(suite.runs()), settings([r for r in suite.runs() if r.model["label"] == "lstm"])
    assert both["tasks"]["copy"]["budget"]["steps"] == 4 and both["tasks"]["copy"]["models"]["ntm"]["steps"] == [6]
    assert compare.mismatches(both, both, "'ref'") == [] and compare.mismatches(lstm, both, "'ref'") == []
    assert compare.mismatches(both, lstm, "'ref'") == []  # ntm's own budget, ntm not run there: the task's (4) match
    there = copy.deepcopy(both)
    there["tasks"]["copy"]["models"]["ntm"]["steps"] = [8]
    assert compare.mismatches(both, there, "'ref'") == ["task 'copy' model 'ntm' train.steps is 6 here, 8 in 'ref'"]
    there["tasks"]["copy"]["budget"]["steps"] = 8  # the models were both run there: the task's budget is not compared
    assert compare.mismatches(both, there, "'ref'") == ["task 'copy' model 'ntm' train.steps is 6 here, 8 in 'ref'"]
    assert compare.mismatches(lstm, there, "'ref'") == []
    there["tasks"]["copy"]["models"] = {}
    assert compare.mismatches(both, there, "'ref'") == ["task 'copy' train.steps is 4 here, 8 in 'ref'"]
