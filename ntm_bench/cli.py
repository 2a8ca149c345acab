"""The command line: `python run_bench.py [run|list|leaderboard|report|plot|speed] ...`, the same as the
installed `ntm-bench` command and `python -m ntm_bench`.

Bad input of any kind ends with one line naming the problem (and the valid choices) and exit
code 2; a traceback only with --debug.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from ntm_bench.errors import BenchError

from ntm_bench.cli_parser import NTM_BACKEND_VAR, NTM_BACKENDS, make_parser  # noqa: F401  (re-exported)


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

    def defaults(cls) -> str:
        """A dataclass's init fields as name=default (a task's args, a model's options)."""
        fields = dataclasses.fields(cls) if dataclasses.is_dataclass(cls) else ()
        return ", ".join(f"{f.name}={f.default!r}" for f in fields if f.init)

    print("tasks:")
    for name in registry.task_names():
        entry = registry.get_task(name)
        cls = entry.cls
        train = ", ".join(f"{ax} {lo}..{hi}" for ax, (lo, hi) in cls.default_train.items())
        where = f"  (plugin {os.path.relpath(entry.plugin)})" if entry.plugin else ""
        print(f"  {name:<20} v{cls.version}  axes: {', '.join(cls.axes):<18} train: {train}{where}")
        print(f"  {'':<20} args: {defaults(cls) or '(none)'}")
    print("models:")
    for name in registry.model_names():
        e = registry.get_model(name)
        opts = defaults(e.config) if e.config else "(none)"
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
    # --debug may stand anywhere (before or after the command), so it is taken out before parsing
    debug = "--debug" in argv
    argv = [t for t in argv if t != "--debug"]
    try:
        argv, overrides = split_overrides(argv)
        a = make_parser(prog).parse_args(argv)
        if a.command == "run":
            a.overrides = [*a.overrides, *overrides, *a.sweep]
        if a.command is None:
            a = make_parser(prog).parse_args(["run", "quick"])
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
