"""Reports, tables and figures built from run records alone.

- `load_results(DIR)` -> Results (runs, evals, curves, problems)             (load.py)
- `leaderboard`, `accuracy_table`, `ranking` -> str in md / csv / latex / html (tables.py)
- `plot_curves`, `plot_lengths`, `plot_memory` -> Figure; `save_figure`      (figures.py, memory.py)
- `fingerprints(weights, mask)` -> per-head entropy / step_one / stay        (fingerprints.py)
- `build_report(DIR)`, `plot(DIR, kind)` -> written paths                    (build.py)
"""
from ntm_bench.report.fingerprints import fingerprints
from ntm_bench.report.load import Results, load_results

__all__ = ["Results", "load_results", "fingerprints"]
