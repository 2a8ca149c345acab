"""The command line: `python run_bench.py [run|list|leaderboard|report|plot|speed] ...`, the same as the
installed `ntm-bench` command and `python -m ntm_bench`.

Bad input of any kind ends with one line naming the problem (and the valid choices) and exit
code 2; a traceback only with --debug.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
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
    p = _Parser(prog=prog, description="ntm-bench: NTM vs LSTM vs Transformer on algorithmic "
                "tasks, tested beyond the training lengths. With no command: run the 'quick' suite.",
                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--debug", action="store_true", help="show tracebacks")
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

    ls = sub.add_parser("list", help="tasks (axes, versions), models (options, presets) and suites")
    ls.add_argument("--plugin", action="append", default=[], type=Path, metavar="FILE.py",
                    help="also list what a plugin file registers (repeatable)")

    lb = sub.add_parser("leaderboard", help="one row per (task, model, test length), over seeds")
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


def cmd_run(a) -> int:
    from ntm_bench import registry
    from ntm_bench.runner import run_suite
    from ntm_bench.suite import load_suite

    plugins = []
    for path in a.plugin:
        registry.load_plugin(path)
        plugins.append(str(Path(path).resolve()))
    suite = load_suite(a.suite, a.overrides, tasks=a.tasks, models=a.models, seeds=a.seeds, device=a.device)
    out = a.out or Path("results") / suite.name
    before = os.environ.get(NTM_BACKEND_VAR)
    if a.ntm_backend:  # a runtime setting, read by the model in this process and in local workers
        os.environ[NTM_BACKEND_VAR] = a.ntm_backend
    try:
        result = run_suite(suite, out, plugins, workers=a.workers, executor=a.executor, scheduler=a.scheduler,
                           compare_with=a.compare_with, allow_mismatch=a.allow_mismatch, logger=a.logger)
    finally:
        if before is None:
            os.environ.pop(NTM_BACKEND_VAR, None)
        else:
            os.environ[NTM_BACKEND_VAR] = before
    bad = {k: v for k, v in result["statuses"].items() if v != "ok"}
    from ntm_bench.records import read_summary

    for run_id, status in sorted(bad.items()):
        error = None
        if status in ("failed", "diverged"):  # recorded by the run itself: its reason, on one line
            error = (read_summary(Path(out) / "runs" / run_id) or {}).get("error")
        print(f"  {run_id}: {status}" + (f": {error.splitlines()[0]}" if error else ""), file=sys.stderr)
    print(short_table(out))
    if not a.no_report:
        from ntm_bench.report.build import build_report

        paths = build_report(out)
        print(f"report: {paths[0] if paths else out / 'report.md'}")
    print(f"records: {out / 'runs'}  ({len(result['statuses'])} run now, {len(result['skipped'])} skipped as "
          f"complete, {result['wall_s']:.0f} s)")
    return 1 if any(v not in ("ok", "diverged") for v in result["statuses"].values()) else 0


def short_table(out: Path) -> str:
    """Per task and model, mean over seeds of each run's bit errors per sequence and sequence
    accuracy on the training range and beyond it, aggregated as the report's summary table
    (report.tables.accuracy_frame: per run, then over seeds; the full leaderboard: `leaderboard DIR`);
    with sweeps, of the configuration picked by validation score, named below the table."""
    from ntm_bench.report.generalisation import short_lines
    from ntm_bench.report.load import load_results
    from ntm_bench.report.tables import IN_DIST, UNSEEN_MEAN, accuracy_frame, categorical_tasks, picked_config

    results = load_results(out)
    if results.evals.empty:
        return "no complete runs to summarise"
    frames = {metric: accuracy_frame(results, metric).set_index(["task", "model", "split"])["mean"]
              for metric in ("bit_errors", "seq_accuracy")}
    lines = [f"{'task':<20} {'model':<16} {'bit err (train)':>16} {'seq acc (train)':>16} "
             f"{'bit err (unseen)':>17} {'seq acc (unseen)':>17}"]

    columns = (("bit_errors", IN_DIST, 16), ("seq_accuracy", IN_DIST, 16), ("bit_errors", UNSEEN_MEAN, 17),
               ("seq_accuracy", UNSEEN_MEAN, 17))
    symbols = categorical_tasks(results)  # per-token accuracy instead of bit errors: their own lines below
    for task, model in frames["seq_accuracy"].index.droplevel("split").unique():
        if task in symbols:
            continue
        values = [(frames[metric].get((task, model, split)), width) for metric, split, width in columns]
        lines.append(f"{task:<20} {model:<16} " + " ".join(f"{'-' if v is None or v != v else f'{v:.3f}':>{w}}"
                                                          for v, w in values))
    if len(lines) == 1:
        lines = []
    lines += short_lines(results)
    lines += [f"{task} / {model}: picked {picked_config(results, task, model)}" for task, model in sorted(results.picked)]
    return "\n".join(lines)


def cmd_list(a) -> int:
    import dataclasses

    from ntm_bench import registry
    from ntm_bench.suite import builtin_suites, load_yaml

    for path in a.plugin:
        registry.load_plugin(path)

    print("tasks:")
    for name in registry.task_names():
        entry = registry.get_task(name)
        cls = entry.cls
        train = ", ".join(f"{ax} {lo}..{hi}" for ax, (lo, hi) in cls.default_train.items())
        where = f"  (plugin {os.path.relpath(entry.plugin)})" if entry.plugin else ""
        print(f"  {name:<20} v{cls.version}  axes: {', '.join(cls.axes):<18} train: {train}{where}")
    print("models:")
    for name in registry.model_names():
        e = registry.get_model(name)
        opts = ", ".join(f"{f.name}={f.default!r}" for f in dataclasses.fields(e.config)) if e.config else "(none)"
        extra = []
        if e.presets:
            extra.append(f"presets: {', '.join(sorted(e.presets))}")
        if e.tasks:
            extra.append(f"tasks: {', '.join(e.tasks)}")
        if e.reference:
            extra.append("reference")
        if e.plugin:
            extra.append(f"plugin {os.path.relpath(e.plugin)}")
        print(f"  {name:<20} {'; '.join(extra)}")
        print(f"  {'':<20} options: {opts}")
    print("suites:")
    for name, path in builtin_suites().items():
        desc = str(load_yaml(path).get("description", "")).strip().splitlines()
        print(f"  {name:<20} {desc[0] if desc else ''}")
    return 0


def cmd_leaderboard(a) -> int:
    from ntm_bench.report.load import load_results
    from ntm_bench.report.tables import leaderboard

    dirs = [_results_dir(d) for d in a.dir]
    results = load_results(dirs[0], compare_with=dirs[1:], allow_mismatch=a.allow_mismatch)
    for line in results.problems:
        if line.startswith("caveat: ") or line.startswith("ranking across tasks leaves out"):
            print(f"note: {line}", file=sys.stderr)
    print(leaderboard(results, fmt=a.format))
    return 0


def cmd_report(a) -> int:
    from ntm_bench.report.build import build_report

    dirs = [_results_dir(d) for d in a.dir]
    for p in build_report(dirs[0], compare_with=dirs[1:], allow_mismatch=a.allow_mismatch,
                          font=a.font, logx=a.logx):
        print(p)
    return 0


def cmd_plot(a) -> int:
    from ntm_bench.report.build import plot

    for p in plot(_results_dir(a.dir), kind=a.kind, task=a.task, metric=a.metric, fmt=a.format, out=a.out,
                  font=a.font, logx=a.logx, width=a.width):
        print(p)
    return 0


def cmd_speed(a) -> int:
    import json

    from ntm_bench.speed import format_speed, measure
    from ntm_bench.speed_solve import copy_solve

    result = measure(quick=a.quick, device=a.device)
    result["copy_solve"] = copy_solve(seeds=(0,) if a.quick else (0, 1, 2), device=a.device)
    result["copy_solve_s"] = result["copy_solve"]["median_s"]
    print(json.dumps(result, indent=2) if a.json else format_speed(result))
    return 0


def _results_dir(d: Path) -> Path:
    if not d.exists():
        raise BenchError(f"results folder {str(d)!r} does not exist")
    if not d.is_dir():
        raise BenchError(f"results folder {str(d)!r} is not a folder")
    return d


COMMANDS = {"run": cmd_run, "list": cmd_list, "leaderboard": cmd_leaderboard, "report": cmd_report,
            "plot": cmd_plot, "speed": cmd_speed}


VALUE_OPTIONS = {"--out", "--tasks", "--models", "--seeds", "--sweep", "--plugin", "--device", "--workers",
                 "--executor", "--scheduler", "--compare-with", "--logger"}
OVERRIDE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_*-]+)*=")


def split_overrides(argv: list[str]) -> tuple[list[str], list[str]]:
    """Pull `key.sub=value` tokens out of a `run` command line, wherever they stand (argparse
    cannot take positionals after options)."""
    if "run" not in argv:
        return argv, []
    rest, overrides = [], []
    after_run = False
    for i, tok in enumerate(argv):
        if after_run and OVERRIDE.match(tok) and (i == 0 or argv[i - 1] not in VALUE_OPTIONS):
            overrides.append(tok)
        else:
            rest.append(tok)
        after_run = after_run or tok == "run"
    return rest, overrides


def main(argv=None, prog: str = "run_bench.py") -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        argv, overrides = split_overrides(argv)
        a = make_parser(prog).parse_args(argv)
        if a.command == "run":
            a.overrides = [*a.overrides, *overrides, *a.sweep]
        if a.command is None:
            a = make_parser(prog).parse_args([*(["--debug"] if debug else []), "run", "quick"])
        return COMMANDS[a.command](a)
    except BenchError as e:
        if debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `... | head`: the reader has gone; no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        print("interrupted: complete runs are kept; run the same command again to finish the rest",
              file=sys.stderr)
        return 130


def console() -> int:
    """The installed `ntm-bench` command (pyproject.toml [project.scripts])."""
    return main(prog="ntm-bench")
