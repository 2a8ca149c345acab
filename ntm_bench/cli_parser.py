"""The command line's parser (ntm_bench.cli runs the commands): every command, option, help text and
example of `python run_bench.py --help`."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from ntm_bench.errors import BenchError
from ntm_bench.loggers import LOGGERS

NTM_BACKENDS = ("auto", "native", "python", "plain")  # ntm_bench.ntm.ops.BACKENDS (not imported here: torch)
NTM_BACKEND_VAR = "NTM_BENCH_NTM_BACKEND"  # ntm_bench.ntm.ops.ENV_VAR

EPILOG = """examples:
  python run_bench.py                                  # the default main job: suite 'quick' -> results/quick/
  python run_bench.py run smoke --out /tmp/smoke       # a few steps of everything, seconds
  python run_bench.py run quick --tasks copy --models ntm,lstm --seeds 0,1,2 train.lr=3e-4
  python run_bench.py run quick --plugin my_model.py --models my_model
  python run_bench.py run quick --plugin my_model.py --models my_model --compare-with results/quick-reference
  python run_bench.py run smoke --plugin examples/reverse_copy.py --tasks reverse_copy --out /tmp/rc
  python run_bench.py run quick --tasks copy --sweep train.lr=1e-3,3e-4 --sweep train.batch_size=8,32
  python run_bench.py run quick --logger tensorboard   # then: tensorboard --logdir results/quick/runs
  python run_bench.py run quick --ntm-backend python   # the NTM on its python path (same run ids)
  python run_bench.py leaderboard results/quick --format md
  python run_bench.py leaderboard results/mine results/quick-reference
  python run_bench.py report results/quick
  python run_bench.py plot results/quick --kind lengths --task copy --format pdf
  python run_bench.py speed --quick
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, never a usage dump
        if message.startswith("unrecognized arguments") and "." in message and "=" not in message:
            message += " (a config override reads key.sub=value, e.g. train.lr=3e-4)"
        raise BenchError(message)


def _csv(kind):
    def parse(text):
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"--{kind}: the list is empty")
        return items
    return parse


def _seeds(text):
    out = []
    for t in _csv("seeds")(text):
        try:
            out.append(int(t))
        except ValueError:
            raise argparse.ArgumentTypeError(f"--seeds: {t!r} is not an integer") from None
    return out


def _sweep(text):
    """--sweep KEY=V1,V2,... -> the override `sweep.KEY=[V1,V2,...]` (suite.parse_sweep checks it)."""
    key, eq, values = text.partition("=")
    if not eq or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=V1,V2,... (e.g. train.lr=1e-3,3e-4), got {text!r}")
    values = values.strip()
    return f"sweep.{key.strip()}=" + (values if values.startswith("[") else f"[{values}]")


def _workers(text):
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--workers: {text!r} is not an integer") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"--workers must be at least 1, got {n}")
    return n


def usable_cores() -> int:
    """The CPU cores this process may run on (Slurm, taskset and containers limit them), else all."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def make_parser(prog: str = "run_bench.py") -> argparse.ArgumentParser:
    p = _Parser(prog=prog, description="ntm-bench: the NTM beside the DNC, LSTM, Transformer and Stack-RNN "
                "on algorithmic tasks, tested beyond the training lengths. With no command: run the 'quick' suite.",
                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--debug", action="store_true", help="show tracebacks (anywhere on the line)")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    r = sub.add_parser("run", help="run a suite (a built-in name or a YAML path)",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="overrides: key.sub=value, e.g. train.lr=3e-4 train.steps=500 "
                              "tasks.copy.test=[10,20,40] models.ntm.options.memory_rows=64\n"
                              "sweeps: --sweep train.lr=1e-3,3e-4 --sweep models.ntm.options.memory_rows=64,128\n"
                              "  (or sweep.train.lr=[1e-3,3e-4]): every combination of the values that apply to a\n"
                              "  model is a run of its own, id TASK__MODEL__memory_rows=64,lr=0.001__sSEED (keys in\n"
                              "  sorted order); reports keep per task and model the configuration with the best\n"
                              "  validation score")
    r.add_argument("suite", nargs="?", default="quick", help="built-in suite name or YAML path (default: quick)")
    r.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides (defaults < YAML < these)")
    r.add_argument("--out", type=Path, help="output folder (default: results/<suite>)")
    r.add_argument("--tasks", type=_csv("tasks"), help="comma-separated task labels of the suite")
    r.add_argument("--models", type=_csv("models"), help="comma-separated model labels (a plugin's models too)")
    r.add_argument("--seeds", type=_seeds, help="comma-separated seeds, e.g. 0,1,2")
    r.add_argument("--sweep", action="append", default=[], type=_sweep, metavar="KEY=V1,V2",
                   help="sweep a setting over values, each combination a run of its own (repeatable); KEY: "
                        "train.<field>, models.<label>.train.<field> or models.<label>.options.<option>")
    r.add_argument("--plugin", action="append", default=[], type=Path, metavar="FILE.py",
                   help="a Python file that registers tasks, models or both (repeatable)")
    r.add_argument("--compare-with", action="append", default=[], type=Path, metavar="DIR",
                   help="a results folder (e.g. results/quick-reference) whose runs join this run's report and "
                        "tables, once the settings that must match are checked (repeatable)")
    r.add_argument("--allow-mismatch", action="store_true",
                   help="compare even where those settings differ, each difference a caveat in the report")
    r.add_argument("--device", help="cpu or cuda (overrides train.device)")
    r.add_argument("--workers", type=_workers, default=usable_cores(),
                   help="parallel worker processes, one torch thread each (default: the cores this process "
                        f"may use, here {usable_cores()})")
    r.add_argument("--executor", choices=["local", "dask"], default="local", help="where runs execute")
    r.add_argument("--scheduler", help="Dask scheduler address for --executor dask")
    r.add_argument("--logger", choices=list(LOGGERS), default="none",
                   help="also write each run's learning curve as it trains: tensorboard -> TensorBoard event "
                        "files in OUT/runs/RUN_ID/tb/ (view: tensorboard --logdir OUT/runs; needs "
                        "pip install -e \".[tensorboard]\"); changes no run's id (default: none)")
    r.add_argument("--ntm-backend", choices=NTM_BACKENDS, metavar="{" + ",".join(NTM_BACKENDS) + "}",
                   help="which code computes the NTM, a runtime setting that changes no run's id (default: "
                        "$NTM_BENCH_NTM_BACKEND, else auto: its C++ kernels on a CPU where they build, else its "
                        "python path; plain: the readable model step by step). Same equations; float rounding "
                        "differs, and records name the path (env.code_path)")
    r.add_argument("--no-report", action="store_true", help="skip the report at the end")

    ls = sub.add_parser("list", help="tasks (axes, versions, args), models (options, presets) and suites")
    ls.add_argument("--plugin", action="append", default=[], type=Path, metavar="FILE.py",
                    help="also list what a plugin file registers (repeatable)")

    lb = sub.add_parser("leaderboard", help="one row per (task, model, test point), over seeds")
    lb.add_argument("dir", type=Path, nargs="+", help="results folder(s): several are compared in one table, "
                                                      "once the settings that must match are checked")
    lb.add_argument("--format", choices=["md", "csv"], default="md")
    lb.add_argument("--allow-mismatch", action="store_true",
                    help="compare folders whose settings differ (listed as caveats)")

    rp = sub.add_parser("report", help="report.md, report.html, figures and tables from the records")
    rp.add_argument("dir", type=Path, nargs="+", help="results folder(s): the report goes into the first; the "
                                                      "others' runs join it, once the settings that must match are checked")
    rp.add_argument("--allow-mismatch", action="store_true",
                    help="compare folders whose settings differ (listed as caveats in the report)")

    pl = sub.add_parser("plot", help="one figure")
    pl.add_argument("dir", type=Path)
    pl.add_argument("--kind", choices=["curves", "lengths", "memory", "paper_curves", "outputs"], required=True)
    pl.add_argument("--task")
    pl.add_argument("--metric")
    pl.add_argument("--format", choices=["pdf", "png", "svg"], default="pdf")
    pl.add_argument("--out", type=Path, help="output file path without extension (default: DIR/figures/...)")
    for fp in (pl, rp):  # figure options (ntm_bench/report/style.py)
        fp.add_argument("--font", choices=["sans", "serif", "latex"], default="sans", help="latex: Computer Modern")
        fp.add_argument("--logx", action="store_true", help="log-scaled x on learning curves and length figures")
    pl.add_argument("--width", choices=["column", "full"], help="one column (3.3 in) or full width (6.9 in)")

    sp = sub.add_parser("speed", help="the speed benchmark (prints figures; not a test)",
                        description="Training and evaluation throughput of the rows every model declares (the NTM: "
                                    "ntm on its C++ kernels, ntm_python and ntm_plain on its other paths, and the paper's "
                                    "priority-sort and feed-forward NTMs, ntm_sort and ntm_ff, also on the readable path), "
                                    "lstm, transformer, the DNC (dnc: the NTM's sizes; dnc_graves2016: 4 read heads) and a bare "
                                    "nn.LSTM reference; each path's speed-up over the one it "
                                    "replaces; the NTM-to-nn.LSTM and NTM-to-DNC ratios; time to solve copy with the quick suite's recipe "
                                    "on the NTM's paths; evaluation scaling. See ntm_bench/speed.py.")
    sp.add_argument("--quick", action="store_true", help="a shorter version")
    sp.add_argument("--json", action="store_true", help="print the figures as JSON")
    sp.add_argument("--device", default="cpu", help="cpu (default) or cuda (the NTM's C++ kernels are CPU-only: "
                                                     "its rows then run the python path)")
    return p
