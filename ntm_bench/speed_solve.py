"""Time to solve copy, the `copy_solve` part of `python run_bench.py speed`: wall-clock seconds until
a model trained with the `quick` suite's recipe for it reaches the target on validation, for every
speed row declared with `solve=True` (ntm_bench/speed.py; the NTM: its C++ kernels and its Python path).
"""
from __future__ import annotations

from pathlib import Path

from ntm_bench.speed import _environment, _prepare, speed_rows


def copy_solve(seeds=(0, 1, 2), device: str = "cpu", target: float = 0.1, rows=None) -> dict:
    """Wall-clock seconds until the `quick` suite's recipe for a model reaches <= `target` bit
    errors per sequence on validation at the training lengths (training time, validation included),
    one run per seed and per speed row declared with `solve=True` (the NTM: its C++ kernels, "ntm",
    and its Python path, "ntm_python"), under the row's settings, one after another. The run keeps
    the suite's recipe and budget, validates every 50 steps and stops at the target; a run that
    never reaches it within the budget counts as None. The top-level per_seed and median_s are the
    first row's."""
    import dataclasses
    import tempfile

    from ntm_bench.records import read_jsonl
    from ntm_bench.suite import load_suite
    from ntm_bench.train import run_one

    declared = speed_rows()
    rows = [n for n in (rows if rows is not None else declared) if declared[n][1].solve]
    _prepare(rows, device)
    out = {"target_bit_errors": target, "paths": {}}
    for name in rows:
        model, row = declared[name]
        suite = load_suite("quick", [f"train.device={device}"], tasks=["copy"], models=[model], seeds=list(seeds))
        per_seed = {}
        with tempfile.TemporaryDirectory(prefix="ntm-bench-solve-") as tmp, _environment(row.env):
            for spec in suite.runs():
                spec = dataclasses.replace(spec, train={**spec.train, "eval_every": 50, "target_bit_errors": target},
                                           eval={**spec.eval, "attention": False, "sequences": 8})
                summary = run_one(spec, Path(tmp))
                rows_ = read_jsonl(Path(tmp) / "runs" / spec.run_id / "curve.jsonl")
                hit = next((r for r in rows_ if r["val_bit_errors"] <= target), None)
                per_seed[spec.seed] = {"solve_s": hit["wall_s"] if hit else None,
                                       "sequences": hit["sequences"] if hit else None,
                                       "steps": hit["step"] if hit else None, "status": summary["status"],
                                       "code_path": summary.get("env", {}).get("code_path", {}).get("train")}
        out["paths"][name] = {"per_seed": per_seed, "median_s": _median_inf([v["solve_s"] for v in per_seed.values()])}
    first = out["paths"][rows[0]] if rows else {"per_seed": {}, "median_s": None}
    return {**out, "per_seed": first["per_seed"], "median_s": first["median_s"]}


def _median_inf(times: list) -> float | None:
    """The median with None counted as +inf (unsolved): None when half or more never solve."""
    ordered = sorted(t for t in times if t is not None) + [None] * sum(t is None for t in times)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return None if ordered[mid] is None else (ordered[mid - 1] + ordered[mid]) / 2


