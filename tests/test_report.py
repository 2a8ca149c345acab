"""Reports from hand-written fixture records (tests/fixtures/records) with numbers worked out by hand.

basic/: copy (ntm, lstm: seeds 0-2; my_model, a plugin: seeds 0-1; test lengths 10, 20 | 30, 50)
and repeat_copy (ntm, lstm: seeds 0-1; points (10,5) | (20,10), (10,20)); train range copy 1..20.
Sequence accuracy per run on the unseen points of copy (mean of 30 and 50):
  ntm  s0 (1 + 0.875)/2 = 0.9375, s1 (0.75 + 0.25)/2 = 0.5, s2 1.0
  lstm s0 (0.25 + 0)/2 = 0.125, s1 0.0, s2 (0.5 + 0)/2 = 0.25
  my_model s0 (0.25 + 0)/2 = 0.125, s1 (0 + 0.25)/2 = 0.125   -> ties lstm's mean 0.125
Bits on the unseen points: lstm (40+100)/2, (50+120)/2, (30+80)/2 -> mean 70; my_model 30 and 30 -> 30.
broken/: a missing test point, a failed run, a corrupted summary.json, an incomplete run, a diverged run.
versions/: copy v1 (accuracy 1 at length 30) and copy v2 (accuracy 0 there), one seed each.
"""
from __future__ import annotations

import csv
import io
import json
import math
import shutil
from pathlib import Path

import pytest
import torch

from ntm_bench.errors import BenchError
from ntm_bench.report import build, figures, ranking, tables
from ntm_bench.report.fingerprints import fingerprints
from ntm_bench.report.load import load_results
from ntm_bench.report.memory_pictures import memory_runs
from ntm_bench.report.render import latex_escape
from ntm_bench.report.style import BUILTIN, model_styles

torch.set_num_threads(1)
FIXTURES = Path(__file__).parent / "fixtures" / "records"


def _attention(t_in: int, n: int, label: str, point: list, axes: list, train_max: dict) -> dict:
    """A tiny copy-like attention record: the write head walks from row 3, the read head follows."""
    t = 2 * t_in + 1
    g = torch.Generator().manual_seed(0)
    inputs = torch.zeros(t, 10)
    inputs[:t_in, :8] = torch.randint(0, 2, (t_in, 8), generator=g).float()
    inputs[t_in, 8] = 1.0
    targets = torch.zeros(t, 9)
    targets[t_in + 1:, :8] = inputs[:t_in, :8]
    mask = torch.zeros(t, dtype=torch.bool)
    mask[t_in + 1:] = True
    steps = torch.arange(t)
    write = torch.zeros(t, n)
    write[steps, (3 + steps.clamp(max=t_in - 1)) % n] = 1.0
    read = torch.zeros(t, n)
    read[steps, (3 + (steps - t_in - 1).clamp(min=0)) % n] = 1.0
    return {"task": "copy", "label": label, "point": point, "axes": axes, "inputs": inputs, "targets": targets,
            "outputs": targets * 0.8 + 0.1, "mask": mask, "valid": torch.ones(t, dtype=torch.bool),
            "weights": {"read0": read, "write0": write}, "train_max": train_max}


def _copy_fixture(name: str, dest: Path, attention: bool = False) -> Path:
    out = dest / name
    shutil.copytree(FIXTURES / name, out)
    if attention:
        torch.save(_attention(30, 128, "30", [30], ["length"], {"length": 20}),
                   out / "runs" / "copy__ntm__s0" / "attention.pt")
        torch.save(_attention(6, 16, "length=20,repeats=10", [20, 10], ["length", "repeats"],
                              {"length": 10, "repeats": 10}), out / "runs" / "repeat_copy__ntm__s1" / "attention.pt")
    return out


@pytest.fixture(scope="module")
def basic():
    return load_results(FIXTURES / "basic")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The basic fixture with attention records, and its full report."""
    root = _copy_fixture("basic", tmp_path_factory.mktemp("built"), attention=True)
    return root, build.build_report(root)


def _row(df, **where):
    for k, v in where.items():
        df = df[df[k] == v]
    assert len(df) == 1, where
    return df.iloc[0]


def test_loading_finds_every_run_and_test_point_without_problems(basic):
    assert len(basic.runs) == 12
    assert len(basic.evals) == 8 * 4 + 4 * 3
    assert basic.problems == ["ranking across tasks leaves out my_model: run on copy with seeds 0, 1, the ranked "
                              "models on 5 (task, seed) pairs over copy, repeat_copy"]  # nothing else is missing
    assert set(basic.runs["task"]) == {"copy", "repeat_copy"}
    assert len(basic.curves) == 12 * 3


def test_accuracy_by_split_matches_hand_computed_mean_sd_best_and_solved(basic):
    df = tables.accuracy_frame(basic, "seq_accuracy", threshold=0.9)
    ntm = _row(df, task="copy", model="ntm", split="unseen mean")
    assert ntm["mean"] == pytest.approx(0.8125)
    assert ntm["sd"] == pytest.approx(math.sqrt(0.07421875))  # deviations .125, -.3125, .1875; / (3 - 1)
    assert (ntm["best"], ntm["best_seed"], ntm["solved"], ntm["n_seeds"]) == (1.0, 2, 2, 3)
    lstm = _row(df, task="copy", model="lstm", split="unseen mean")
    assert (lstm["mean"], lstm["sd"], lstm["best"], lstm["best_seed"], lstm["solved"]) == \
        pytest.approx((0.125, 0.125, 0.25, 2, 0))
    ind = _row(df, task="copy", model="ntm", split="in-distribution")  # lengths 10, 20: 1, 0.875, 1
    assert (ind["mean"], ind["sd"], ind["solved"]) == pytest.approx(((1 + 0.875 + 1) / 3, math.sqrt(0.015625 / 3), 2))
    point = _row(df, task="copy", model="ntm", split="50")  # 0.875, 0.25, 1.0
    assert (point["mean"], point["solved"]) == pytest.approx((2.125 / 3, 1))
    assert _row(df, task="copy", model="ntm", split="unseen mean")["params"] == 67561


def test_accuracy_table_puts_the_best_mean_per_task_in_bold(basic):
    md = tables.accuracy_table(basic, "md")
    assert "**0.812 ± 0.272**" in md
    assert "**0.375 ± 0.177**" in md  # repeat_copy ntm, unseen mean (0.5 + 0.25) / 2
    assert "**0.125 ± 0.125**" not in md
    assert "2/3" in md and "0/3" in md


def test_leaderboard_aggregates_each_test_point_over_seeds(basic):
    rows = list(csv.DictReader(io.StringIO(tables.leaderboard(basic, "csv"))))
    at50 = [r for r in rows if r["task"] == "copy" and r["model"] == "ntm" and r["length"] == "50"]
    assert len(at50) == 1
    r = at50[0]
    assert float(r["bits"]) == pytest.approx(19 / 3)                  # (2 + 16 + 1) / 3
    assert float(r["bits_sd"]) == pytest.approx(math.sqrt(140.66666666 / 2))
    assert float(r["seq_accuracy"]) == pytest.approx(2.125 / 3)
    assert r["n_seeds"] == "3" and r["split"] == "unseen"
    assert len(rows) == 3 * 4 + 2 * 3  # copy: 3 models x 4 points; repeat_copy: 2 models x 3 points
    assert "| copy | ntm | 10 | train | 67561 |" in tables.leaderboard(basic, "md")


def test_ranking_breaks_an_accuracy_tie_by_fewer_bits_and_averages_ranks_across_tasks(basic):
    per_task, overall = ranking.ranking_frames(basic)
    copy = per_task[per_task["task"] == "copy"]
    assert list(copy["model"]) == ["ntm", "my_model", "lstm"]
    assert list(copy["rank"]) == [1, 2, 3]
    assert _row(copy, model="lstm")["bits"] == pytest.approx(70.0)
    assert _row(copy, model="my_model")["bits"] == pytest.approx(30.0)
    # Across tasks only models run on the same tasks and seeds, ranked among themselves: my_model ran
    # copy with 2 seeds only, so lstm is 2nd on copy there (3rd above) and my_model is left out.
    assert list(overall["model"]) == ["ntm", "lstm"]
    assert list(overall["mean_rank"]) == pytest.approx([1.0, 2.0])
    assert list(overall["n_tasks"]) == [2, 2]


def test_a_reference_row_is_marked_in_the_ranking(tmp_path):
    root = _copy_fixture("basic", tmp_path)
    for seed in (0, 1):
        p = root / "runs" / f"copy__my_model__s{seed}" / "summary.json"
        s = json.loads(p.read_text())
        s["model"]["reference"] = True
        p.write_text(json.dumps(s))
    r = load_results(root)
    md = ranking.ranking(r, "md")
    assert "| copy | 1 | ntm |  |" in md
    assert "|  | — | my_model | reference |" in md  # listed where its score puts it, not ranked
    assert "|  | 2 | lstm |  |" in md
    per_task, overall = ranking.ranking_frames(r)
    assert list(overall["model"]) == ["ntm", "lstm"]  # reference predictors stay out of the overall table


def test_latex_tables_are_escaped_and_use_booktabs_rules(basic):
    tex = tables.accuracy_table(basic, "latex")
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex
    assert "my\\_model" in tex and "repeat\\_copy" in tex and "seq\\_accuracy" in tex
    assert "\\textbf{0.812} & \\textbf{$\\pm$ 0.272}" in tex  # mean and sd in columns of their own
    assert "≥" not in tex and "±" not in tex
    assert latex_escape("a_b%c&d#e$f{g}") == "a\\_b\\%c\\&d\\#e\\$f\\{g\\}"
    assert "my\\_model" in ranking.ranking(basic, "latex")


def test_a_missing_number_is_a_dash_never_nan(tmp_path):
    root = _copy_fixture("versions", tmp_path)
    p = root / "runs" / "copy_v1__ntm__s0" / "summary.json"
    s = json.loads(p.read_text())
    s["eval"][1]["bits"] = None
    p.write_text(json.dumps(s))
    r = load_results(root)
    md, tex, csv_text = (tables.leaderboard(r, f) for f in ("md", "latex", "csv"))
    for text in (md, tex, csv_text):
        assert "nan" not in text.lower()
    assert "| 30 | unseen | 67561 | — |" in md
    assert "& 30 & unseen & 67561 & \\multicolumn{2}{c}{--} &" in tex
    row = [x for x in csv.DictReader(io.StringIO(csv_text)) if x["task"] == "copy@v1" and x["length"] == "30"][0]
    assert row["bits"] == "" and row["bits_sd"] == ""


def test_two_versions_of_a_task_are_kept_apart_never_averaged():
    r = load_results(FIXTURES / "versions")
    assert set(r.runs["task"]) == {"copy@v1", "copy@v2"}
    df = tables.accuracy_frame(r)
    assert _row(df, task="copy@v1", split="unseen mean")["mean"] == 1.0
    assert _row(df, task="copy@v2", split="unseen mean")["mean"] == 0.0
    assert "0.500" not in tables.leaderboard(r, "md")


def test_a_folder_without_records_is_a_bench_error(tmp_path):
    with pytest.raises(BenchError, match="no run records"):
        load_results(tmp_path)
    (tmp_path / "runs" / "copy__ntm__s0").mkdir(parents=True)
    with pytest.raises(BenchError, match="no run records"):
        load_results(tmp_path)


def test_broken_records_still_report_and_the_report_says_what_is_missing(tmp_path):
    root = _copy_fixture("broken", tmp_path)
    r = load_results(root)
    text = "\n".join(r.problems)
    assert "runs/copy__lstm__s0/summary.json: corrupted or truncated JSON" in text
    assert "runs/copy__lstm__s1: incomplete (no summary.json)" in text
    assert "copy__ntm__s1: failed: RuntimeError: out of memory" in text
    assert "copy__lstm__s2: diverged" in text
    assert "copy__ntm__s0: missing test point(s) 50" in text
    assert set(r.runs["run_id"]) == {"copy__ntm__s0", "copy__ntm__s1", "copy__lstm__s2"}
    assert "| unseen mean * |" in tables.accuracy_table(r, "md")  # ntm s0 is averaged over length 30 only
    assert "unseen mean *" not in tables.accuracy_table(load_results(FIXTURES / "basic"), "md")
    build.build_report(root)
    report = (root / "report.md").read_text()
    problems = report.split("## Problems")[1]
    assert "missing test point(s) 50" in problems and "incomplete" in problems and "corrupted" in problems
    assert "missing test point(s) 50" in (root / "report.html").read_text()


def test_the_report_holds_every_table_and_figure_kind_with_truetype_pdfs(built):
    root, written = built
    names = {p.name for p in written}
    for kind in ("curves_val_bit_errors_sequences", "curves_val_bit_errors_wall_s", "lengths_bit_errors",
                 "lengths_seq_accuracy", "memory_copy_ntm", "memory_repeat_copy_ntm"):
        assert f"{kind}.pdf" in names and f"{kind}.png" in names
    for table in ("accuracy", "leaderboard", "ranking_per_task", "fingerprints"):
        assert {f"{table}.md", f"{table}.csv", f"{table}.tex"} <= names
    for pdf in (root / "figures").glob("*.pdf"):
        data = pdf.read_bytes()
        assert b"/Type3" not in data and b"/FontFile2" in data, pdf.name
    png = (root / "figures" / "lengths_bit_errors.png").read_bytes()
    assert int.from_bytes(png[16:20], "big") == round(6.9 * 300)  # full width at 300 dpi
    html = (root / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(list((root / "figures").glob("*.png")))
    assert "<img src=\"figures/" not in html and "<table>" in html
    md = (root / "report.md").read_text()
    assert "![" in md and "figures/memory_copy_ntm.png" in md
    assert "seeds: 0, 1, 2" in md and "trained on length 1..20" in md and "torch 2.13.0" in md
    assert "best checkpoint" in md and "standard deviation" in md


def test_fingerprints_from_the_summaries_are_averaged_over_seeds(built):
    root, _ = built
    rows = list(csv.DictReader(io.StringIO((root / "tables" / "fingerprints.csv").read_text())))
    read0 = [r for r in rows if r["task"] == "copy" and r["model"] == "ntm" and r["head"] == "read0"][0]
    # entropy 0.125, 0.375, 0.25; step_one 0.75, 0.25, 0.5; stay 0.25, 0.5, 0.25 (seeds 0, 1, 2)
    assert float(read0["entropy"]) == pytest.approx(0.25) and float(read0["entropy_sd"]) == pytest.approx(0.125)
    assert float(read0["step_one"]) == pytest.approx(0.5) and float(read0["stay"]) == pytest.approx(1 / 3)
    assert read0["n_seeds"] == "3"
    assert "write0" in (root / "report.md").read_text()


def test_same_records_give_identical_tables_and_figure_bytes(built, tmp_path):
    root, _ = built
    again = load_results(_copy_fixture("basic", tmp_path, attention=True))
    assert tables.leaderboard(again, "csv") == (root / "tables" / "leaderboard.csv").read_text()
    assert tables.accuracy_table(again, "latex") == (root / "tables" / "accuracy.tex").read_text()
    assert ranking.ranking(again, "csv") == (root / "tables" / "ranking.csv").read_text()
    for fig, name in ((figures.plot_curves(again, "val_bit_errors", "sequences"), "curves_val_bit_errors_sequences"),
                      (figures.plot_lengths(again, "bit_errors"), "lengths_bit_errors"),
                      (figures.plot_memory(again, "copy", "ntm"), "memory_copy_ntm")):
        for path in figures.save_figure(fig, tmp_path / name, formats=("png", "pdf")):
            assert path.read_bytes() == (root / "figures" / path.name).read_bytes(), path.name


def test_plot_writes_one_figure_in_the_asked_format_and_names_bad_choices(tmp_path):
    root = _copy_fixture("basic", tmp_path, attention=True)
    (svg,) = build.plot(root, "lengths", task="repeat_copy", metric="seq_accuracy", fmt="svg")
    assert svg.name == "lengths_seq_accuracy_repeat_copy.svg" and b"<svg" in svg.read_bytes()
    (png,) = build.plot(root, "memory", task="copy", fmt="png", out=tmp_path / "mem")
    assert png == tmp_path / "mem.png" and png.stat().st_size > 1000
    with pytest.raises(BenchError, match="valid: curves, lengths, memory"):
        build.plot(root, "heatmap")
    with pytest.raises(BenchError, match="tasks with records: copy, repeat_copy"):
        figures.plot_curves(load_results(root), task="sort")
    with pytest.raises(BenchError, match="valid: .*val_bit_errors"):
        figures.plot_curves(load_results(root), metric="loss")


def test_fingerprints_of_a_hand_made_weighting():
    # N = 4, one sequence: argmax 0, 1, 1, 3 -> moves +1, 0, +2; step 0 is half on rows 0 and 1.
    w = torch.tensor([[[0.5, 0.5, 0, 0], [0, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]]], dtype=torch.float32)
    mask = torch.ones(1, 4, dtype=torch.bool)
    fp = fingerprints({"read0": w}, mask)["read0"]
    assert fp["entropy"] == pytest.approx((math.log(2) / math.log(4)) / 4)  # one step at 0.5, three at 0
    assert (fp["step_one"], fp["stay"], fp["forward"], fp["pairs"]) == pytest.approx((1 / 3, 1 / 3, 1 / 3, 3))
    # Masking the last step leaves the pairs (0,1) and (1,2): one +1 move, one stay.
    fp = fingerprints({"read0": w}, torch.tensor([[True, True, True, False]]))["read0"]
    assert (fp["step_one"], fp["stay"], fp["pairs"]) == pytest.approx((0.5, 0.5, 2))


def test_fingerprints_of_a_circular_walk_and_of_a_uniform_head():
    n, t = 5, 8
    walk = torch.eye(n)[torch.arange(t) % n].unsqueeze(0).repeat(2, 1, 1)  # (2, 8, 5), wraps 4 -> 0
    back = torch.eye(n)[(-torch.arange(t)) % n].unsqueeze(0).repeat(2, 1, 1)
    uniform = torch.full((2, t, n), 1 / n)
    mask = torch.ones(2, t, dtype=torch.bool)
    fp = fingerprints({"write0": walk, "read0": back, "read1": uniform}, mask)
    assert (fp["write0"]["entropy"], fp["write0"]["step_one"], fp["write0"]["forward"]) == pytest.approx((0, 1, 1))
    assert (fp["read0"]["step_one"], fp["read0"]["forward"]) == pytest.approx((1, 0))
    assert fp["read1"]["entropy"] == pytest.approx(1.0)
    empty = fingerprints({"read0": walk}, torch.zeros(2, t, dtype=torch.bool))["read0"]
    assert empty["entropy"] is None and empty["step_one"] is None


def test_model_styles_are_fixed_for_builtins_and_hashed_for_others_whatever_else_is_present():
    a = model_styles(["lstm", "ntm", "zeta", "alpha"])
    b = model_styles(["ntm", "alpha", "zeta", "lstm", "transformer"])
    assert a == {m: b[m] for m in a}  # the same style whichever other models are in the folder
    assert b["ntm"] == BUILTIN["ntm"] and b["lstm"] == BUILTIN["lstm"]
    builtin_markers = {st.marker for st in BUILTIN.values()}
    assert b["alpha"].marker not in builtin_markers and b["zeta"].marker not in builtin_markers
    assert len({(s.color, s.marker) for s in b.values()}) == 5
    assert model_styles(["ngram", "ntm"], reference={"ngram"})["ngram"].color == "#000000"


def test_the_memory_picture_shows_the_seed_that_generalised_best(tmp_path):
    root = _copy_fixture("basic", tmp_path)
    for seed in (0, 1, 2):  # seed 2 has the best unseen sequence accuracy (1.0 at 30 and 50)
        torch.save(_attention(30, 128, "30", [30], ["length"], {"length": 20}),
                   root / "runs" / f"copy__ntm__s{seed}" / "attention.pt")
    results = load_results(root)
    assert memory_runs(results, "copy", "ntm") == [("copy", "ntm", "copy__ntm__s2")]
    (root / "runs" / "copy__ntm__s2" / "attention.pt").unlink()
    assert memory_runs(load_results(root), "copy", "ntm") == [("copy", "ntm", "copy__ntm__s0")]


def test_the_terminal_table_aggregates_like_the_summary_table(tmp_path):
    from ntm_bench.cli import short_table

    root = _copy_fixture("basic", tmp_path)
    path = root / "runs" / "copy__lstm__s0" / "summary.json"
    s = json.loads(path.read_text())
    s["eval"] = [e for e in s["eval"] if e["point"] != [50]]  # lstm s0 unseen: 0.25 at 30 only
    path.write_text(json.dumps(s))
    results = load_results(root)
    row = next(r for r in tables.summary_table(results).rows if r[:2] == ["copy", "lstm"])
    assert row[3][0] == pytest.approx((0.25 + 0.0 + 0.25) / 3)  # per run, then over seeds (not 0.75 / 5 rows)
    text = short_table(root)
    line = next(x for x in text.splitlines() if x.split()[:2] == ["copy", "lstm"])
    assert line.split()[-1] == f"{row[3][0]:.3f}" and len(text.splitlines()) == 6  # a header and 5 rows
