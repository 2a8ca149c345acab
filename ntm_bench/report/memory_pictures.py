"""Memory pictures in the style of Graves et al. 2014, Figs. 6, 9, 12: what a model wrote and read.

For one test sequence (the harness's `attention.pt`, usually the first test point beyond the
training range) the picture stacks, on a shared time axis: the inputs, the targets, the model's
outputs (probabilities, shown on the scored steps only), then each head's weighting over memory
locations (write heads first), as grey-scale heatmaps (time on x, location on y). Inputs and
outputs run from white 0 to black 1; each head runs from white 0 to black at its own largest
weight (written beside it when below 1), so that a diffuse head (an untrained one: weights near 1/N)
still shows its structure.

Zoom: the location axes show only the rows the heads visit (`zoom_rows`): the shortest circular
run of rows holding every row on which some head puts at least `VISIT_FRAC` of its largest weight,
two rows either side. Memory is circular (shifts wrap around), so that run may cross from the last
row to row 0: the tick labels are the real row numbers, and a dotted line marks the wrap. When the
heads visit most of the memory (or it has at most `ZOOM_MIN_ROWS` rows) every row is shown. A walking
head is then a readable diagonal, as in the paper, not a line one pixel thin.

One (task, model) fits one column of a two-column paper (3.3 in); `width="full"` gives 6.9 in.
"""
from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import torch

from ntm_bench.errors import BenchError
from ntm_bench.report.load import Results
from ntm_bench.report.selection import best_runs
from ntm_bench.report.style import figure_width, model_order, new_figure, paper_style

ZOOM_MIN_ROWS = 24   # never zoom memories this small
VISIT_FRAC = 0.1     # a head visits a row when it puts at least this share of its largest weight there
ZOOM_PAD = 2         # rows shown either side of the visited ones
ZOOM_MAX_SHARE = 0.8  # zoom only when the visited rows are at most this share of the memory


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
    the one that generalised best (selection.best_runs): the picture shows what the model learned at its
    best, and names the seed."""
    return best_runs(results, set(results.attention), task, model)


def _np(x) -> np.ndarray:
    return torch.as_tensor(x).detach().to(torch.float32).cpu().numpy()


def zoom_rows(weights: dict[str, np.ndarray]) -> tuple[np.ndarray, int]:
    """(rows to show, in order; N): the shortest circular run of rows that holds every row some
    head visits (see the module docstring), padded; all N rows when that is most of the memory."""
    n = next(iter(weights.values())).shape[1]
    every = np.arange(n)
    if n <= ZOOM_MIN_ROWS:
        return every, n
    visited = np.zeros(n, dtype=bool)
    for w in weights.values():
        top = float(w.max()) if w.size else 0.0
        if top > 0:
            visited |= w.max(0) >= VISIT_FRAC * top
            visited[w.argmax(1)] = True
    used = np.flatnonzero(visited)
    if len(used) == 0:
        return every, n
    gaps = np.diff(np.concatenate([used, [used[0] + n]]))  # gap after each visited row, circularly
    k = int(np.argmax(gaps))                                # the largest gap is left out
    start, length = int(used[(k + 1) % len(used)]), n - int(gaps[k]) + 1
    length += 2 * ZOOM_PAD
    if length > ZOOM_MAX_SHARE * n:
        return every, n
    return (start - ZOOM_PAD + np.arange(length)) % n, n


def _ticks(rows: np.ndarray, most: int = 4) -> list[int]:
    """Positions (indices into rows) for a few row-number ticks: both ends and evenly between."""
    k = len(rows)
    return sorted({int(round(v)) for v in np.linspace(0, k - 1, min(most, k))})


def _head_label(name: str) -> str:
    """'write0' -> 'write\nhead 0' (short lines: the label sits beside a narrow panel)."""
    kind = name.rstrip("0123456789")
    num = name[len(kind):]
    return f"{kind}\nhead {num}" if kind and num else name


def _rows_text(rows: np.ndarray, n: int) -> str:
    """'rows 27–58 of 128', 'rows 123–127, 0–58 of 128' (wrapping), 'all 128 rows'."""
    if len(rows) >= n:
        return f"all {n} rows"
    runs = np.split(rows, np.flatnonzero(np.diff(rows) < 0) + 1)
    return "rows " + ", ".join(f"{int(r[0])}–{int(r[-1])}" for r in runs) + f" of {n}"


def _prepare(rec: dict) -> dict:
    """The picture's arrays from an attention record: valid steps only, outputs on scored steps,
    heads write-first, the rows to show."""
    valid = _np(rec.get("valid", torch.ones(len(rec["inputs"])))).astype(bool)
    t_len = int(valid.sum()) or len(valid)
    mask = _np(rec.get("mask", torch.ones(len(valid)))).astype(bool)[:t_len]
    heads = sorted(rec["weights"], key=lambda h: (not h.startswith("write"), h))
    weights = {h: _np(rec["weights"][h])[:t_len] for h in heads}      # (T, N) each
    rows, n = zoom_rows(weights) if weights else (np.arange(0), 0)
    return {"t_len": t_len, "inputs": _np(rec["inputs"])[:t_len], "targets": _np(rec["targets"])[:t_len],
            "outputs": _np(rec["outputs"])[:t_len] * mask[:, None], "weights": weights, "rows": rows, "n": n}


def _heights(p: dict) -> tuple[list[float], list[float]]:
    """Panel heights in inches: channels thin, each head tall enough that one row is readable."""
    chans = [max(0.16, min(0.3, p[k].shape[1] * 0.03)) for k in ("inputs", "targets", "outputs")]
    head = float(np.clip(0.5 + 0.01 * len(p["rows"]), 0.75, 1.5))
    return chans, [head] * len(p["weights"])


def _draw_pair(sub, p: dict, title: str, chars: int) -> None:
    """One (task, model) block of panels into a subfigure; the title wrapped at `chars`."""
    t_len, rows, n = p["t_len"], p["rows"], p["n"]
    panels = [(k, p[k].T, "channel") for k in ("inputs", "targets", "outputs")]
    panels += [(h, w[:, rows].T, "location") for h, w in p["weights"].items()]
    chans, heads = _heights(p)
    axes = np.atleast_1d(sub.subplots(len(panels), 1, sharex=True, gridspec_kw={"height_ratios": chans + heads}))
    for ax, (name, arr, kind) in zip(axes, panels):
        k = arr.shape[0]
        if kind == "channel":
            ax.imshow(arr, aspect="auto", cmap="Greys", vmin=0, vmax=1, interpolation="nearest",
                      origin="upper", extent=(0.5, t_len + 0.5, k - 0.5, -0.5))
            ax.set_yticks([])
            ax.set_ylabel(name, rotation=0, ha="right", va="center")
        else:
            top = float(arr.max()) if arr.size and arr.max() > 0 else 1.0  # each head on its own scale
            ax.imshow(arr, aspect="auto", cmap="Greys", vmin=0, vmax=top, interpolation="nearest",
                      origin="lower", extent=(0.5, t_len + 0.5, -0.5, k - 0.5))
            wraps = [int(i) + 1 for i in np.flatnonzero(np.diff(rows) < 0)]  # where row 0 follows row N-1
            ticks = []
            for t in wraps + _ticks(rows):  # row 0 at a wrap first, then the ends and between, none crowded
                if all(abs(t - u) >= 0.12 * k for u in ticks):
                    ticks.append(t)
            ticks.sort()
            ax.set_yticks(ticks, [str(int(rows[i])) for i in ticks])
            for i in wraps:
                ax.axhline(i - 0.5, color="0.45", linewidth=0.5, linestyle=(0, (1, 1.5)))
            label = _head_label(name) + (f"\n(black {top:.2f})" if top < 0.995 else "")
            ax.set_ylabel(label, rotation=0, ha="right", va="center")
        for side in ("top", "right"):
            ax.spines[side].set_visible(True)
    axes[-1].set_xlabel("time step")
    if p["weights"]:
        title += f"; memory {_rows_text(rows, n)}"
    sub.suptitle("\n".join(textwrap.wrap(title, chars)))


def plot_memory(results: Results, task: str | None = None, model: str | None = None, width: str = "column",
                font: str = "sans"):
    """Memory pictures for every (task, model) with an attention record (filters: task, model),
    stacked, at one-column (default) or full width."""
    chosen = memory_runs(results, task, model)
    records = []
    for t, m, run_id in chosen:
        rec = load_attention(results.attention[run_id], results.problems)
        if rec is not None:
            records.append((t, m, run_id, _prepare(rec), rec))
    if not records:
        what = " and ".join(f"{k} {v!r}" for k, v in (("task", task), ("model", model)) if v) or "any model"
        have = ", ".join(f"{t}/{m}" for t, m, _ in memory_runs(results)) or "(none)"
        raise BenchError(f"no readable attention records for {what} under {str(results.dir)!r}; "
                         f"records exist for: {have}")
    w = figure_width(width)
    chars = int(w * 15)  # about the characters of 8 pt text per line at this width
    with paper_style(font):
        titles, heights = [], []
        for t, m, run_id, p, rec in records:
            seed = results.runs.loc[results.runs["run_id"] == run_id, "seed"].iloc[0]
            label = rec.get("label") or ",".join(str(v) for v in rec.get("point", []))
            train_max = rec.get("train_max") or {}
            tm = ", ".join(f"{a} ≤ {v}" for a, v in train_max.items())
            title = f"{t}, {m} (seed {seed}): test point {label}" + (f" (trained on {tm})" if tm else "")
            titles.append(title)
            lines = math.ceil((len(title) + 36) / chars)  # + "; memory rows a–b of N"
            chans, heads = _heights(p)
            heights.append(0.45 + 0.14 * lines + 1.15 * (sum(chans) + sum(heads)))
        fig = new_figure(w, sum(heights), font)
        subs = np.atleast_1d(fig.subfigures(len(records), 1, height_ratios=heights))
        for sub, title, (t, m, run_id, p, rec) in zip(subs, titles, records):
            _draw_pair(sub, p, title, chars)
    return fig
