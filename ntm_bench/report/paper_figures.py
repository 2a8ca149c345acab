"""Figures in the style of Graves et al. 2014, for the paper's reproduction.

- `plot_paper_curves`: learning curves NTM vs LSTM, one panel per task, as in the paper's Figs. 3, 7,
  10, 13 and 15: cost per sequence in bits (validation) against sequences seen in thousands; the
  optimal predictor's cost on dynamic N-grams, as in Fig. 13. Models: those built on `ntm` and
  `lstm` (e.g. ntm, ntm_ff, lstm), or the ones asked for.
- `plot_outputs`: generalisation outputs as in Figs. 4 and 8 (copy, repeat copy; any task works):
  for a few test points, the targets above and each model's outputs below, on the scored steps
  only, one column per test point, widths to one time scale (long sequences start a new band, as
  the paper puts length 120 on a line of its own).

Where the outputs come from (`output_samples`), per (task, model) the seed that generalised best:
1. `best.pt` of the run (the best checkpoint, present after a local run): the model is rebuilt
   from `config.json` and run on one test sequence of every test point (the evaluation seed, so
   every model sees the same sequences). The result is kept as the run's `outputs.pt`, so the
   figure survives the checkpoints' removal (the shipped results keep no checkpoints).
2. `outputs.pt` made earlier, if it belongs to the run's configuration and is not older than `best.pt`.
3. `attention.pt` (models with `trace`): the one test sequence the run saved (one test point).
"""
from __future__ import annotations

import dataclasses
import json
import textwrap
from pathlib import Path

import numpy as np
import torch

from ntm_bench.errors import BenchError
from ntm_bench.report import figures
from ntm_bench.report.load import Results
from ntm_bench.report.selection import best_runs
from ntm_bench.report.memory_pictures import load_attention
from ntm_bench.report.style import figure_width, model_order, new_figure, paper_style

PAPER_MODELS = ("ntm", "lstm")  # model names (registry) drawn by default in the paper's curves
BAND_STEPS = 120                # time steps per band of the outputs figure (the longest point, if longer)


def paper_models(results: Results) -> list[str]:
    """Model labels built on the paper's models (ntm, lstm; e.g. ntm_ff too), else every non-reference one."""
    runs = results.runs[~results.runs["reference"].astype(bool)]
    chosen = sorted(set(runs.loc[runs["model_name"].isin(PAPER_MODELS), "model"]))
    return model_order(chosen or set(runs["model"]))


def plot_paper_curves(results: Results, task: str | None = None, logx: bool = False, width: str | None = None,
                      font: str = "sans", models=None):
    """Cost per sequence (validation bits) against sequences seen (thousands), NTM vs LSTM per task
    (Graves et al. 2014, Figs. 3, 7, 10, 13, 15): thin lines per seed, thick line the mean."""
    return figures.plot_curves(results, "val_bits", "sequences", task=task, logx=logx, width=width, font=font,
                               models=list(models) if models is not None else paper_models(results), paper=True)


# ---------------------------------------------------------------------------------------------
# Generalisation outputs

def _sample(label: str, point, targets, outputs, mask) -> dict:
    return {"label": str(label), "point": [int(v) for v in point], "targets": torch.as_tensor(targets).float(),
            "outputs": torch.as_tensor(outputs).float(), "mask": torch.as_tensor(mask).bool()}


def _from_checkpoint(run_dir: Path) -> list[dict]:
    """Rebuild the run's model from config.json, load best.pt, and run one test sequence per test point."""
    from ntm_bench.data import test_batches
    from ntm_bench.evaluation import memory_for
    from ntm_bench.metrics import call_model
    from ntm_bench.spec import RunSpec
    from ntm_bench.trainer import Trainer

    config = json.loads((run_dir / "config.json").read_text())
    names = {f.name for f in dataclasses.fields(RunSpec)}
    spec = RunSpec(**{k: v for k, v in config.items() if k in names})
    out = run_dir.parent.parent  # config.json names plugins relative to the output folder (or absolute, older)
    spec = dataclasses.replace(spec, train={**spec.train, "device": "cpu"},
                               plugins=tuple(str(out / p) for p in spec.plugins or ()))
    trainer = Trainer(spec, run_dir)
    trainer.model.load_state_dict(torch.load(run_dir / "best.pt", map_location="cpu", weights_only=True))
    trainer.model.eval()
    one = dataclasses.replace(trainer.e, sequences=1, batch_size=1)
    out = []
    for point in spec.task["test"]:
        point = tuple(point)
        batch = test_batches(trainer.task, spec.task, one, point)[0]
        with memory_for(trainer.model, trainer.task, trainer.e, point), torch.no_grad():
            logits = call_model(trainer.model, batch.inputs, batch.valid)
        n = int(batch.valid[0].sum())
        out.append(_sample(trainer.task.point_label(point if len(point) > 1 else point[0]), point,
                           batch.targets[0, :n], torch.sigmoid(logits.float())[0, :n], batch.mask[0, :n]))
    return out


def _config_hash(results: Results, run_id: str):
    return (results.summaries.get(run_id) or {}).get("config_hash")


def run_samples(results: Results, run_id: str, run_dir: Path) -> tuple[list[dict], str]:
    """(samples, where they came from) for one run, in the order of the module docstring; ([], "")
    when it has none. A checkpoint that cannot be rerun is a line in results.problems."""
    from ntm_bench.records import atomic_torch_save

    best, cache, att = run_dir / "best.pt", run_dir / "outputs.pt", run_dir / "attention.pt"
    want = _config_hash(results, run_id)
    if cache.is_file() and (not best.is_file() or cache.stat().st_mtime >= best.stat().st_mtime):
        try:
            rec = torch.load(cache, map_location="cpu", weights_only=True)
            if isinstance(rec, dict) and rec.get("config_hash") == want and isinstance(rec.get("samples"), list):
                return [_sample(**s) for s in rec["samples"]], "outputs.pt"
        except Exception:  # noqa: BLE001 - a stale or torn cache is rebuilt or ignored
            pass
    if best.is_file():
        try:
            samples = _from_checkpoint(run_dir)
            atomic_torch_save(cache, {"config_hash": want, "samples": samples})
            return samples, "best.pt"
        except Exception as e:  # noqa: BLE001 - any failure: one problem line, then the next source
            msg = f"runs/{run_dir.name}: generalisation outputs not rebuilt from best.pt ({type(e).__name__}: {e})"
            if msg not in results.problems:
                results.problems.append(msg)
    if att.is_file():
        rec = load_attention(att, results.problems)
        if rec is not None and {"targets", "outputs"} <= set(rec):
            valid = rec.get("valid", torch.ones(len(rec["targets"]), dtype=torch.bool)).bool()
            n = int(valid.sum()) or len(valid)
            mask = rec.get("mask", torch.ones(len(valid), dtype=torch.bool))
            return [_sample(rec.get("label") or ",".join(map(str, rec.get("point", []))), rec.get("point", []),
                            rec["targets"][:n], rec["outputs"][:n], mask[:n])], "attention.pt"
    return [], ""


def output_samples(results: Results, task: str, models=None) -> list[tuple]:
    """[(model, run_id, seed, samples, source)] for the task: per model (default: every non-reference
    model), the seed that generalised best among the runs with a source of outputs."""
    runs = results.runs[~results.runs["reference"].astype(bool)]
    run_dirs = {r: results.run_dirs.get(r, results.dir / "runs" / r) for r in runs["run_id"]}
    have = {r for r, d in run_dirs.items()
            if any((d / f).is_file() for f in ("best.pt", "outputs.pt", "attention.pt"))}
    out = []
    for t, m, run_id in best_runs(results, have, task):
        if models is not None and m not in models:
            continue
        samples, source = run_samples(results, run_id, run_dirs[run_id])
        if samples:
            seed = results.runs.loc[results.runs["run_id"] == run_id, "seed"].iloc[0]
            out.append((m, run_id, seed, samples, source))
    return out


def _band_steps(lengths: list[int]) -> int:
    """Time steps per band: BAND_STEPS, less when all points fit in fewer, more for a longer point."""
    return max([min(BAND_STEPS, sum(lengths)), *lengths])


def _bands(lengths: list[int]) -> list[list[int]]:
    """Indices of the points in each band: in order, as many as fit _band_steps."""
    cap = _band_steps(lengths)
    bands, used = [[]], 0
    for i, n in enumerate(lengths):
        if bands[-1] and used + n > cap:
            bands.append([])
            used = 0
        bands[-1].append(i)
        used += n
    return bands


def _point_title(point: tuple) -> str:
    """(30,) -> '30'; (10, 6) -> '(10, 6)': short, the axes are named in the figure's title."""
    return str(point[0]) if len(point) == 1 else "(" + ", ".join(map(str, point)) + ")"


def plot_outputs(results: Results, task: str = "copy", models=None, width: str = "full", font: str = "sans",
                 rows=None):
    """Targets above, each model's outputs below (probabilities, white 0 to black 1), for the
    scored steps of one test sequence per test point (Graves et al. 2014, Figs. 4 and 8). `rows`:
    output_samples(results, task, models), if already at hand. The figure's `ntm_bench_sources`
    maps each model to (run id, seed, source file), for captions."""
    keys = figures.select_tasks(results, task, results.runs["task"])
    if len(keys) != 1:
        raise BenchError(f"task {task!r} matches {', '.join(keys)}; name one")
    key = keys[0]
    rows = rows if rows is not None else output_samples(results, key, models)
    if not rows:
        raise BenchError(f"no generalisation outputs for task {key!r} under {str(results.dir)!r}: no run of it "
                         f"has best.pt, outputs.pt or attention.pt")
    axes_names = results.tasks[key]["axes"]
    order = sorted({tuple(s["point"]) for *_, samples, _ in rows for s in samples})
    by_model = {m: {tuple(s["point"]): s for s in samples} for m, _, _, samples, _ in rows}
    first = {p: next(by_model[m][p] for m, *_ in rows if p in by_model[m]) for p in order}

    def scored(s, what):
        return s[what][s["mask"]].numpy().T  # (channels, scored steps)

    shared = all(torch.equal(by_model[m][p]["targets"], first[p]["targets"]) for m in by_model for p in by_model[m])
    lengths = [int(first[p]["mask"].sum()) for p in order]
    bands = _bands(lengths)
    cap = _band_steps(lengths)
    w = figure_width(width)
    channels = first[order[0]]["targets"].shape[1]
    row_h = float(np.clip(channels * (w - 0.8) / cap, 0.2, 0.32))
    lines = [("targets", None)] + [(m, m) for m, *_ in rows] if shared else \
        [x for m, *_ in rows for x in ((f"targets ({m})", m), (m, m))]
    band_h = 0.25 + row_h * len(lines)
    title_h = 0.2 + 0.14 * (w < 5)
    with paper_style(font):
        fig = new_figure(w, band_h * len(bands) + title_h, font)
        subs = np.atleast_1d(fig.subfigures(len(bands), 1))
        for sub, band in zip(subs, bands):
            ratios = [lengths[i] for i in band]
            filler = cap - sum(ratios)
            axs = sub.subplots(len(lines), len(band) + (filler > 0), squeeze=False,
                               gridspec_kw={"width_ratios": ratios + ([filler] if filler > 0 else [])})
            for j, i in enumerate(band):
                p = order[i]
                for r, (name, m) in enumerate(lines):
                    ax = axs[r, j]
                    s = first[p] if m is None else by_model[m].get(p)
                    if s is not None:
                        arr = scored(s, "targets" if name.startswith("targets") else "outputs")
                        ax.imshow(arr, aspect="auto", cmap="Greys", vmin=0, vmax=1, interpolation="nearest")
                    else:
                        ax.text(0.5, 0.5, "—", ha="center", va="center", transform=ax.transAxes)
                    ax.set_xticks([])
                    ax.set_yticks([])
                    for side in ("top", "right"):
                        ax.spines[side].set_visible(True)
                    if j == 0:
                        ax.set_ylabel(name, rotation=0, ha="right", va="center")
                    if r == 0:
                        ax.set_title(_point_title(p), fontsize=7)
            if filler > 0:
                for ax in axs[:, -1]:
                    ax.set_visible(False)
        what = ", ".join(axes_names)
        title = f"{key}: targets and outputs at each test point ({what}); time →"
        fig.suptitle("\n".join(textwrap.wrap(title, int(w * 15))))
    fig.ntm_bench_sources = {m: (run_id, seed, source) for m, run_id, seed, _, source in rows}  # for captions
    return fig


__all__ = ["plot_paper_curves", "plot_outputs", "output_samples", "paper_models", "run_samples"]
