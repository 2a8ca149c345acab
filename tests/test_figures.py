"""Figures, memory pictures, paper-style figures, LaTeX tables and the report's order, on the
hand-written fixture records of test_report.py (basic/: copy with ntm, lstm on seeds 0-2 and my_model,
a plugin, on seeds 0-1; repeat_copy with ntm, lstm on seeds 0-1; copy trained on lengths 1..20).

Structure, not pixels: what is drawn where, on which axis limits, in which colour, and that no text
leaves the figure or runs into another panel (the same check at one- and two-column widths).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest
import torch
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from ntm_bench.errors import BenchError
from ntm_bench.report import build, figures, paper_figures
from ntm_bench.report.load import load_results
from ntm_bench.report.memory_pictures import zoom_rows
from ntm_bench.report.style import BUILTIN, REFERENCE, model_style
from test_report import FIXTURES, _copy_fixture

WIDTHS = {"column": 3.3, "full": 6.9}


def layout_problems(fig, tol: float = 1.5) -> list[str]:
    """Text or panels outside the figure, panels (with their labels and ticks) running into each
    other, the legend over a panel: what a reviewer would see as clipped or overlapping."""
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    out = []
    box = fig.get_tightbbox(r).transformed(fig.dpi_scale_trans)
    if box.x0 < -tol or box.y0 < -tol or box.x1 > fig.bbox.width + tol or box.y1 > fig.bbox.height + tol:
        out.append(f"content {box} outside the figure {fig.bbox.width} x {fig.bbox.height}")
    axes = [a for a in fig.get_axes() if a.get_visible()]
    boxes = [a.get_tightbbox(r) for a in axes]
    for i in range(len(axes)):
        for j in range(i + 1, len(axes)):
            w = min(boxes[i].x1, boxes[j].x1) - max(boxes[i].x0, boxes[j].x0)
            h = min(boxes[i].y1, boxes[j].y1) - max(boxes[i].y0, boxes[j].y0)
            if w > tol and h > tol:
                out.append(f"panels {axes[i].get_title()!r} and {axes[j].get_title()!r} overlap")
    for legend in fig.legends:
        lb = legend.get_window_extent(r)
        out += [f"legend over {a.get_title()!r}" for a, b in zip(axes, boxes) if lb.overlaps(b)]
    return out


@pytest.fixture(scope="module")
def basic_att(tmp_path_factory):
    root = _copy_fixture("basic", tmp_path_factory.mktemp("figs"), attention=True)
    return root, load_results(root)


def _random_targets(root):
    """Make copy a task with random targets: every copy run gets excess_bits = bits - 5 (the optimum
    costs 5 bits), and a reference predictor joins (copy__opt__s0)."""
    for p in (root / "runs").glob("copy__*/summary.json"):
        s = json.loads(p.read_text())
        for e in s["eval"]:
            e["excess_bits"] = e["bits"] - 5.0
        p.write_text(json.dumps(s))
    ref = root / "runs" / "copy__opt__s0"
    shutil.copytree(root / "runs" / "copy__lstm__s0", ref)
    (ref / "curve.jsonl").unlink()
    s = json.loads((ref / "summary.json").read_text())
    s.update(run_id="copy__opt__s0")
    s["model"].update(label="opt", name="opt", reference=True)
    for e in s["eval"]:
        e.update(bits=5.0, excess_bits=0.0, bit_errors=1.0)
    (ref / "summary.json").write_text(json.dumps(s))
    return load_results(root)


def _mean_lines(ax):
    return [ln for ln in ax.get_lines() if ln.get_linewidth() > 1 and ln.get_marker() not in (None, "None", "")]


def _seed_lines(ax):
    return [ln for ln in ax.get_lines() if ln.get_linewidth() < 1 and len(ln.get_xdata()) > 1]


# ---------------------------------------------------------------------------------------------
# Figures

@pytest.mark.parametrize("width", ["column", "full"])
def test_nothing_is_clipped_or_overlapping_at_one_and_two_column_widths(basic_att, width):
    root, r = basic_att
    made = {"curves": figures.plot_curves(r, "val_bits", width=width),
            "curves wall": figures.plot_curves(r, "val_bit_errors", "wall_s", width=width, logx=True),
            "lengths acc": figures.plot_lengths(r, "seq_accuracy", width=width),
            "lengths bits": figures.plot_lengths(r, "bits", width=width, logx=True),
            "one panel": figures.plot_lengths(r, "bit_errors", task="copy", width=width),
            "memory": figures.plot_memory(r, width=width),
            "paper curves": paper_figures.plot_paper_curves(r, width=width),
            "outputs": paper_figures.plot_outputs(r, "copy", width=width)}
    for name, fig in made.items():
        assert fig.get_figwidth() == WIDTHS[width], name
        assert layout_problems(fig) == [], name


def test_accuracies_share_one_0_1_axis_and_no_line_leaves_the_metrics_range(basic_att):
    _, r = basic_att
    for fig in (figures.plot_lengths(r, "seq_accuracy"), figures.plot_curves(r, "val_seq_accuracy")):
        axes = [a for a in fig.axes if a.get_visible()]
        assert len(axes) == 2
        assert {a.get_ylim() for a in axes} == {(-0.03, 1.03)}
        assert axes[0].get_shared_y_axes().joined(axes[0], axes[1])
        ys = np.concatenate([ln.get_ydata() for a in axes for ln in a.get_lines()])
        assert ys.min() >= 0 and ys.max() <= 1
    for fig in (figures.plot_lengths(r, "bits"), figures.plot_curves(r, "val_bits"),
                figures.plot_lengths(r, "bit_errors")):
        for a in fig.axes:
            assert a.get_ylim()[0] >= 0
            assert all(np.min(ln.get_ydata()) >= 0 for ln in a.get_lines())
            assert not [c for c in a.collections if type(c).__name__ in ("PolyCollection", "FillBetweenPolyCollection")]


def test_each_seed_is_a_thin_line_under_the_mean_over_seeds(basic_att):
    _, r = basic_att
    fig = figures.plot_curves(r, "val_bits", task="copy")
    (ax,) = fig.axes
    ntm = BUILTIN["ntm"].color
    seeds = [ln for ln in _seed_lines(ax) if ln.get_color() == ntm]
    (mean,) = [ln for ln in _mean_lines(ax) if ln.get_color() == ntm]
    assert len(seeds) == 3 and mean.get_marker() == BUILTIN["ntm"].marker
    at = {float(x): [] for x in mean.get_xdata()}
    for ln in seeds:
        for x, y in zip(ln.get_xdata(), ln.get_ydata()):
            at.setdefault(float(x), []).append(y)
    assert mean.get_ydata() == pytest.approx([np.mean(at[float(x)]) for x in mean.get_xdata()])


def test_a_models_colour_and_marker_do_not_depend_on_the_other_models(basic_att, tmp_path):
    root, r = basic_att
    alone = _copy_fixture("basic", tmp_path)
    for run in (alone / "runs").glob("copy__lstm__*"):
        shutil.rmtree(run)  # another folder: without the lstm

    def styles(results):
        (ax,) = figures.plot_curves(results, "val_bits", task="copy").axes
        return {(ln.get_color(), ln.get_marker()) for ln in _mean_lines(ax)}

    here, there = styles(r), styles(load_results(alone))
    plugin = (model_style("my_model").color, model_style("my_model").marker)
    assert plugin in here and plugin in there
    assert (BUILTIN["ntm"].color, BUILTIN["ntm"].marker) in here & there
    assert plugin[1] not in {s.marker for s in BUILTIN.values()}  # never mistaken for a built-in
    assert model_style("my_model") == model_style("my_model") and model_style("a") != model_style("b")


def test_tasks_with_random_targets_show_excess_bits_the_optimum_and_no_sequence_accuracy(tmp_path):
    r = _random_targets(_copy_fixture("basic", tmp_path))
    fig = figures.plot_lengths(r, "seq_accuracy")
    assert [a.get_title() for a in fig.axes if a.get_visible()] == ["repeat_copy"]
    fig = figures.plot_lengths(r, "bits")
    copy = next(a for a in fig.axes if a.get_title().startswith("copy"))
    assert "bits above optimum" in copy.get_title()
    zero = [ln for ln in copy.get_lines() if list(ln.get_ydata()) == [0, 0]]
    assert zero and zero[0].get_color() == REFERENCE.color
    ntm = next(ln for ln in _mean_lines(copy) if ln.get_color() == BUILTIN["ntm"].color)
    ev = r.evals[(r.evals["task"] == "copy") & (r.evals["model"] == "ntm")]
    assert list(ntm.get_ydata()) == pytest.approx(list(ev.groupby("point")["bits"].mean() - 5))
    fig = figures.plot_curves(r, "val_bits")
    copy = next(a for a in fig.axes if a.get_title() == "copy")
    assert [list(ln.get_ydata()) for ln in copy.get_lines() if ln.get_color() == REFERENCE.color] == [[5.0, 5.0]]
    assert figures.optimum(r, "copy", "val_bits") == pytest.approx(5.0)
    with pytest.raises(BenchError, match="random targets"):
        figures.plot_lengths(r, "seq_accuracy", task="copy")


def test_log_x_and_a_single_training_length_that_stays_visible(tmp_path):
    root = _copy_fixture("basic", tmp_path)
    for p in (root / "runs").glob("copy__*/summary.json"):
        s = json.loads(p.read_text())
        s["task"]["train_range"] = {"length": [20, 20]}
        p.write_text(json.dumps(s))
    r = load_results(root)
    fig = figures.plot_lengths(r, "bits", logx=True)
    copy, repeat = (next(a for a in fig.axes if a.get_title() == t) for t in ("copy", "repeat_copy"))
    assert copy.get_xscale() == "log" and repeat.get_xscale() == "linear"  # repeat_copy: categorical points
    band = [p for p in copy.patches if isinstance(p, Rectangle)]  # in axes coordinates
    assert len(band) == 1 and band[0].get_width() >= figures.MIN_BAND - 1e-9
    x20 = copy.transAxes.inverted().transform(copy.transData.transform((20, 0)))[0]
    assert band[0].get_x() <= x20 <= band[0].get_x() + band[0].get_width()
    assert {a.get_xscale() for a in figures.plot_curves(r, "val_bits", logx=True).axes} == {"log"}


def test_fonts_and_bad_choices(basic_att):
    _, r = basic_att
    for font, family in (("sans", "DejaVu Sans"), ("serif", "STIXGeneral"), ("latex", "cmr10")):
        (ax,) = figures.plot_lengths(r, "bits", task="copy", font=font).axes
        assert ax.get_title() == "copy" and ax.title.get_fontfamily()[0] == family
    with pytest.raises(BenchError, match="valid: sans, serif, latex"):
        figures.plot_lengths(r, "bits", font="comic")
    with pytest.raises(BenchError, match="valid: column, full"):
        figures.plot_curves(r, width="half")


# ---------------------------------------------------------------------------------------------
# Memory pictures

def test_the_zoom_keeps_the_rows_the_heads_visit_around_the_circular_memory():
    n, t = 128, 40
    walk = np.zeros((t, n))
    walk[np.arange(t), (120 + np.arange(t)) % n] = 1.0  # rows 120..127 then 0..31
    rows, size = zoom_rows({"write0": walk})
    assert size == n and rows[0] == 118 and rows[-1] == 33 and len(rows) == 40 + 4
    assert list(np.diff(rows) % n) == [1] * (len(rows) - 1)
    spread = np.full((t, n), 1 / n)  # a head that addresses nothing: every row
    assert len(zoom_rows({"read0": spread})[0]) == n
    small = np.eye(16)[np.arange(10)]
    assert len(zoom_rows({"read0": small})[0]) == 16  # small memories are never zoomed


def test_the_memory_picture_shows_only_the_visited_rows_with_their_numbers_in_one_column(basic_att):
    _, r = basic_att
    fig = figures.plot_memory(r, "copy", "ntm")
    assert fig.get_figwidth() == 3.3 and layout_problems(fig) == []
    heads = [a for a in fig.axes if a.images and "head" in a.get_ylabel()]
    assert [a.get_ylabel().split("\n")[:2] for a in heads] == [["write", "head 0"], ["read", "head 0"]]
    rows = heads[0].images[0].get_array().shape[0]
    assert rows == 30 + 4  # the heads walk rows 3..32 (test_report._attention); 2 rows either side
    labels = [int(t.get_text()) for t in heads[0].get_yticklabels()]
    assert labels[0] == 1 and labels[-1] == 34
    assert "memory rows 1–34 of 128" in fig.subfigs[0]._suptitle.get_text().replace("\n", " ")


# ---------------------------------------------------------------------------------------------
# Paper-style figures

def test_paper_curves_compare_ntm_and_lstm_in_thousands_of_sequences(basic_att):
    _, r = basic_att
    fig = paper_figures.plot_paper_curves(r)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["ntm", "lstm"]
    assert fig.get_supxlabel() == "sequence number (thousands)"
    assert fig.get_supylabel() == "cost per sequence (bits)"
    colours = {ln.get_color() for a in fig.axes for ln in a.get_lines()}
    assert model_style("my_model").color not in colours
    assert paper_figures.plot_paper_curves(r, models=["my_model"]).legends[0].get_texts()[0].get_text() == "my_model"


def test_outputs_from_the_saved_attention_record(basic_att):
    _, r = basic_att
    fig = paper_figures.plot_outputs(r, "copy")
    assert fig.ntm_bench_sources == {"ntm": ("copy__ntm__s0", 0, "attention.pt")}
    images = [a for a in fig.axes if a.images]
    assert [a.get_ylabel() for a in images] == ["targets", "ntm"]
    rec = torch.load(r.attention["copy__ntm__s0"], weights_only=True)
    scored = rec["mask"]
    assert np.array_equal(images[0].images[0].get_array(), rec["targets"][scored].numpy().T)
    assert np.allclose(images[1].images[0].get_array(), rec["outputs"][scored].numpy().T)
    with pytest.raises(BenchError, match="no generalisation outputs"):
        paper_figures.plot_outputs(load_results(FIXTURES / "basic"), "copy")


def test_outputs_rerun_from_the_best_checkpoint_at_every_test_point_and_survive_its_removal(tmp_path):
    from ntm_bench.suite import load_suite
    from ntm_bench.train import build as build_model

    root = _copy_fixture("basic", tmp_path, attention=True)
    spec = next(s for s in load_suite("smoke").runs() if s.task["task"] == "copy" and s.model["model"] == "lstm")
    run = root / "runs" / "copy__lstm__s0"
    (run / "config.json").write_text(json.dumps({**spec.to_json(), "config_hash": spec.config_hash()}))
    torch.save(build_model(spec)[2].state_dict(), run / "best.pt")
    r = load_results(root)
    ((model, run_id, seed, samples, source),) = paper_figures.output_samples(r, "copy", models=["lstm"])
    assert (model, run_id, source) == ("lstm", "copy__lstm__s0", "best.pt")
    assert [s["point"] for s in samples] == [list(p) for p in spec.task["test"]]
    for s, p in zip(samples, spec.task["test"]):
        assert int(s["mask"].sum()) == p[0] and s["targets"].shape == s["outputs"].shape
        assert float(s["outputs"].min()) >= 0 and float(s["outputs"].max()) <= 1
    (run / "best.pt").unlink()
    again = paper_figures.output_samples(load_results(root), "copy", models=["lstm"])[0]
    assert again[4] == "outputs.pt"
    assert all(torch.equal(a["outputs"], b["outputs"]) for a, b in zip(samples, again[3]))
    fig = paper_figures.plot_outputs(load_results(root), "copy")
    assert {m: v[2] for m, v in fig.ntm_bench_sources.items()} == {"ntm": "attention.pt", "lstm": "outputs.pt"}
    assert layout_problems(fig) == []
    assert [a.get_ylabel() for a in fig.axes if a.get_ylabel()] == ["targets", "ntm", "lstm"]
    blanks = [a for a in fig.axes if a.get_visible() and not a.images]  # a model without that test point
    assert len(blanks) == len(spec.task["test"]) + 1 and all(a.texts[0].get_text() == "—" for a in blanks)


def test_plot_kinds_for_the_paper_figures(basic_att, tmp_path):
    root, _ = basic_att
    (pdf,) = build.plot(root, "paper_curves", task="copy", out=tmp_path / "paper")
    assert pdf.name == "paper.pdf" and pdf.stat().st_size > 1000
    (png,) = build.plot(root, "outputs", fmt="png", width="column", font="serif", out=tmp_path / "out")
    assert png.stat().st_size > 1000
    with pytest.raises(BenchError, match="take no metric"):
        build.plot(root, "outputs", metric="bits")


# ---------------------------------------------------------------------------------------------
# The report and its LaTeX tables

@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = _copy_fixture("basic", tmp_path_factory.mktemp("report"), attention=True)
    build.build_report(root)
    return root


def test_the_report_opens_with_the_headline_figures_and_a_short_table(report):
    md = (report / "report.md").read_text()
    headings = re.findall(r"^## (.+)$", md, flags=re.M)
    assert headings[:3] == ["Summary", "Protocol", "Results"] and headings[-1] == "Problems"
    summary = md.split("## Protocol")[0]
    figs = re.findall(r"!\[[^\]]*\]\(figures/([^)]+)\.png\)", summary)
    assert figs == ["lengths_seq_accuracy", "curves_val_bits_sequences", "memory_copy_ntm"]
    assert summary.index("memory_copy_ntm") < summary.index("**Summary table**")
    assert "| copy | ntm | 0.958 ± 0.072 | **0.812 ± 0.272** | 2/3 |" in summary  # (1 + .875 + 1) / 3; 0.8125
    assert md.index("**Summary table**") < md.index("**Ranking per task**") < md.index("## Figures in the style")
    html = (report / "report.html").read_text()
    assert html.index("<img") < html.index("<table>") < html.index("<h2>Protocol</h2>")
    assert html.count("<img") == md.count("![")


def test_the_outputs_figures_caption_names_the_task(report):
    md = (report / "report.md").read_text()
    caption = next(line for line in md.splitlines() if "Figs. 4 and 8" in line)
    assert ": copy targets (top)" in caption and "outputs_copy" not in caption.split("](")[0], caption


def test_latex_tables_have_caption_label_booktabs_and_aligned_numbers(report):
    for tex in sorted((report / "tables").glob("*.tex")):
        text, name = tex.read_text(), tex.stem
        assert f"\\label{{tab:{name}}}" in text and "\\caption{" in text, name
        assert all(r in text for r in ("\\toprule", "\\midrule", "\\bottomrule")), name
        assert text.count("{") == text.count("}"), name
        spec = re.search(r"\\begin\{(?:tabular|longtable)\}\{(.*)\}$", text, flags=re.M).group(1)
        ncols = len(re.findall(r"[lrc]", spec.replace("@{\\,}", "")))
        rows = [ln for ln in text.splitlines() if ln.endswith("\\\\") and "multicolumn{" not in ln.split("&")[0]
                and not ln.startswith(("\\caption", "\\label"))]
        for ln in rows:
            cells = ln[:-2].split(" & ")
            width = sum(int(m) for m in re.findall(r"\\multicolumn\{(\d+)\}", ln)) - ln.count("\\multicolumn") + len(cells)
            assert width == ncols, (name, ln)
    # one column, one number of decimals: the points line up when right-aligned
    text = (report / "tables" / "summary.tex").read_text()
    means = re.findall(r"& (\d+\.\d+) & \$\\pm\$ (\d+\.\d+)", text)
    assert means and {len(m.split(".")[1]) for m, _ in means} == {3} and {len(s.split(".")[1]) for _, s in means} == {3}


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no TeX engine (pdflatex) installed")
def test_latex_tables_compile_in_a_minimal_document(report, tmp_path):
    inputs = "\n".join(f"\\input{{{p}}}\n\\clearpage" for p in sorted((report / "tables").glob("*.tex")))
    doc = ("\\documentclass{article}\n\\usepackage{booktabs}\n\\usepackage{longtable}\n"
           "\\usepackage[margin=1cm,landscape]{geometry}\n\\begin{document}\nTable~\\ref{tab:summary}.\n"
           f"{inputs}\n\\end{{document}}\n")
    (tmp_path / "doc.tex").write_text(doc)
    for _ in range(2):  # twice: the references resolve on the second run
        out = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stdout[-2000:]
    log = (tmp_path / "doc.log").read_text(errors="replace")
    assert "undefined" not in log.lower() and (tmp_path / "doc.pdf").stat().st_size > 1000


def test_a_folder_without_sweeps_or_attention_still_reports(tmp_path):
    root = _copy_fixture("versions", tmp_path)
    build.build_report(root)
    md = (root / "report.md").read_text()
    assert md.startswith("# ntm-bench report") and "## Summary" in md and "memory_" not in md
    assert "## Figures in the style of Graves et al. 2014" in md  # the paper curves; no outputs without records
    assert "outputs_copy" not in md


def test_outputs_of_models_on_different_sequences_get_their_own_targets(basic_att, tmp_path):
    root = _copy_fixture("basic", tmp_path, attention=True)
    g = torch.Generator().manual_seed(1)
    targets = torch.randint(0, 2, (61, 9), generator=g).float()
    mask = torch.zeros(61, dtype=torch.bool)
    mask[31:] = True
    torch.save({"config_hash": None, "samples": [{"label": "30", "point": [30], "targets": targets,
                                                   "outputs": targets * 0.9, "mask": mask}]},
               root / "runs" / "copy__lstm__s0" / "outputs.pt")
    fig = paper_figures.plot_outputs(load_results(root), "copy")
    assert [a.get_ylabel() for a in fig.axes if a.get_ylabel()] == ["targets (ntm)", "ntm", "targets (lstm)", "lstm"]
    assert layout_problems(fig) == []
