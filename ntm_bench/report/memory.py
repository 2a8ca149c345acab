"""Memory pictures in the style of Graves et al. 2014, Figs. 6, 9, 12: what a model wrote and read.

For one test sequence (the harness's `attention.pt`, usually the longest unseen point) the picture
stacks, on a shared time axis: the inputs, the targets, the model's outputs (probabilities, shown
on the scored steps only), then each head's weighting over memory locations (write heads first),
as grey-scale heatmaps (time on x, location on y). Inputs and outputs run from white 0 to black 1;
each head runs from white 0 to black at its own largest weight, written on its axis, so that a
diffuse head (an untrained one: weights near 1/N) still shows its structure. When memory has many more
rows than the heads touch, the location axis is cropped to the rows that ever get weight >= 0.01
(the axis label says which rows of how many).
"""
from __future__ import annotations

import math

from pathlib import Path

import numpy as np
import torch

from ntm_bench.errors import BenchError
from ntm_bench.report.load import Results
from ntm_bench.report.mplstyle import FULL_WIDTH_IN, new_figure, paper_style
from ntm_bench.report.style import model_order

CROP_MIN_ROWS = 32      # never crop memories this small
CROP_WEIGHT = 0.01      # a row is "used" when some head puts at least this much weight on it


def load_attention(path: Path, problems: list[str] | None = None) -> dict | None:
    """The attention record, or None (with a line in `problems`) if it is unreadable."""
    try:
        rec = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(rec, dict) or not isinstance(rec.get("weights"), dict) or "inputs" not in rec:
            raise ValueError("not an attention record")
        return rec
    except Exception as e:  # noqa: BLE001 - any unreadable file becomes one problem line
        if problems is not None:
            msg = f"{path}: unreadable attention record ({type(e).__name__}); skipped"
            if msg not in problems:
                problems.append(msg)
        return None


def memory_runs(results: Results, task: str | None = None, model: str | None = None) -> list[tuple]:
    """(task, model, run_id) to picture: per task and model, among the runs with an attention record,
    the one with the best sequence accuracy on the unseen test points (then the fewest bits there,
    then the lowest seed): the picture shows what the model learned at its best, and names the seed."""
    runs = results.runs[results.runs["run_id"].isin(results.attention)]
    if task is not None:
        runs = runs[(runs["task"] == task) | (runs["task"].str.split("@v").str[0] == task)]
    if model is not None:
        runs = runs[runs["model"] == model]
    ev = results.evals
    unseen = ev[ev["split"] == "unseen"] if "split" in ev else ev.iloc[:0]
    acc = unseen.groupby("run_id")["seq_accuracy"].mean() if "seq_accuracy" in unseen else {}
    bits = unseen.groupby("run_id")["bits"].mean() if "bits" in unseen else {}
    runs = runs.assign(_acc=runs["run_id"].map(acc).astype(float).fillna(-1.0),
                       _bits=runs["run_id"].map(bits).astype(float).fillna(math.inf))
    out = []
    for t in sorted(set(runs["task"])):
        for m in model_order(set(runs.loc[runs["task"] == t, "model"])):
            sub = runs[(runs["task"] == t) & (runs["model"] == m)].sort_values(
                ["_acc", "_bits", "seed", "run_id"], ascending=[False, True, True, True])
            out.append((t, m, sub["run_id"].iloc[0]))
    return out


def _np(x) -> np.ndarray:
    return torch.as_tensor(x).detach().to(torch.float32).cpu().numpy()


def _crop(weights: dict[str, np.ndarray]) -> tuple[int, int, int]:
    """(first row, last row, N): the band of rows any head uses, or all rows for small memories."""
    n = next(iter(weights.values())).shape[1]
    if n <= CROP_MIN_ROWS:
        return 0, n - 1, n
    used = np.flatnonzero(np.max([w.max(0) for w in weights.values()], axis=0) >= CROP_WEIGHT)
    if len(used) == 0:
        return 0, n - 1, n
    lo, hi = max(0, int(used[0]) - 1), min(n - 1, int(used[-1]) + 1)
    if hi - lo + 1 > 0.9 * n:
        return 0, n - 1, n
    return lo, hi, n


def _draw_pair(sub, rec: dict, title: str) -> None:
    """One (task, model) block of panels into a subfigure."""
    valid = _np(rec.get("valid", torch.ones(len(rec["inputs"])))).astype(bool)
    t_len = int(valid.sum()) or len(valid)
    mask = _np(rec.get("mask", torch.ones(len(valid)))).astype(bool)[:t_len]
    inputs, targets = _np(rec["inputs"])[:t_len], _np(rec["targets"])[:t_len]
    outputs = _np(rec["outputs"])[:t_len] * mask[:, None]             # (T, out), scored steps only
    heads = sorted(rec["weights"], key=lambda h: (not h.startswith("write"), h))
    weights = {h: _np(rec["weights"][h])[:t_len] for h in heads}      # (T, N) each
    lo, hi, n = _crop(weights) if weights else (0, 0, 0)
    panels = [("inputs", inputs.T, "channel"), ("targets", targets.T, "channel"), ("outputs", outputs.T, "channel")]
    panels += [(h, weights[h][:, lo:hi + 1].T, "location") for h in heads]
    ratios = [max(0.55, min(1.0, a.shape[0] / 12)) for _, a, kind in panels[:3]]
    ratios += [1.5] * len(heads)
    axes = sub.subplots(len(panels), 1, sharex=True, gridspec_kw={"height_ratios": ratios})
    for ax, (name, arr, kind) in zip(np.atleast_1d(axes), panels):
        rows = arr.shape[0]
        if kind == "channel":
            ax.imshow(arr, aspect="auto", cmap="Greys", vmin=0, vmax=1, interpolation="nearest",
                      origin="upper", extent=(0.5, t_len + 0.5, rows - 0.5, -0.5))
            ax.set_yticks([0, rows - 1] if rows > 1 else [0])
            ax.set_ylabel(name, rotation=0, ha="right", va="center")
        else:
            top = float(arr.max()) if arr.size and arr.max() > 0 else 1.0  # each head on its own scale
            ax.imshow(arr, aspect="auto", cmap="Greys", vmin=0, vmax=top, interpolation="nearest",
                      origin="lower", extent=(0.5, t_len + 0.5, lo - 0.5, hi + 0.5))
            ax.set_yticks([lo, hi])
            cropped = f"rows {lo}–{hi} of {n}" if (lo, hi) != (0, n - 1) else f"{n} rows"
            ax.set_ylabel(f"{name} location\n{cropped}\nblack = {top:.2f}", rotation=0, ha="right", va="center")
        for side in ("top", "right"):
            ax.spines[side].set_visible(True)
    np.atleast_1d(axes)[-1].set_xlabel("time step")
    sub.suptitle(title, fontsize=8)


def plot_memory(results: Results, task: str | None = None, model: str | None = None):
    """Memory pictures for every (task, model) with an attention record (filters: task, model)."""
    chosen = memory_runs(results, task, model)
    records = []
    for t, m, run_id in chosen:
        rec = load_attention(results.attention[run_id], results.problems)
        if rec is not None:
            records.append((t, m, run_id, rec))
    if not records:
        what = " and ".join(f"{k} {v!r}" for k, v in (("task", task), ("model", model)) if v) or "any model"
        have = ", ".join(f"{t}/{m}" for t, m, _ in memory_runs(results)) or "(none)"
        raise BenchError(f"no readable attention records for {what} under {str(results.dir)!r}; "
                         f"records exist for: {have}")
    with paper_style():
        heights = [1.3 + 0.75 * len(rec["weights"]) for *_, rec in records]
        fig = new_figure(FULL_WIDTH_IN, sum(heights))
        subs = np.atleast_1d(fig.subfigures(len(records), 1, height_ratios=heights))
        for sub, (t, m, run_id, rec) in zip(subs, records):
            seed = results.runs.loc[results.runs["run_id"] == run_id, "seed"].iloc[0]
            label = rec.get("label") or ",".join(str(v) for v in rec.get("point", []))
            train_max = rec.get("train_max") or {}
            tm = ", ".join(f"{a} ≤ {v}" for a, v in train_max.items())
            title = f"{t} — {m} (seed {seed}); test point {label}" + (f" (trained on {tm})" if tm else "")
            _draw_pair(sub, rec, title)
    return fig
