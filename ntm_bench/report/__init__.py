"""Reports, tables and figures built from run records alone.

- `load_results(DIR)` -> Results (runs, evals, curves, problems)             (load.py)
- the configuration picked by validation, comparable models, best seeds     (selection.py)
- `leaderboard`, `accuracy_table`, `summary_table` -> md / csv / latex / html (tables.py, render.py)
- `ranking` -> per task and across tasks                                     (ranking.py)
- `plot_curves`, `plot_lengths` -> Figure                                    (figures.py)
- `plot_memory` -> Figure: memory pictures, zoomed to the rows in use       (memory_pictures.py)
- `plot_paper_curves`, `plot_outputs` -> Figure: Graves et al. 2014 style   (paper_figures.py)
- paper settings, fonts, `save_figure`, one style per model                 (style.py)
- `fingerprints(weights, mask)` -> per-head entropy / step_one / stay        (fingerprints.py)
- `build_report(DIR)`, `plot(DIR, kind)` -> written paths                    (build.py)
"""
from ntm_bench.report.fingerprints import fingerprints
from ntm_bench.report.load import Results, load_results

__all__ = ["Results", "load_results", "fingerprints"]
