"""Suites: reading a suite file (which tasks, models, seeds, budgets and splits to run) into a `Suite`.

A suite is a YAML file (built-ins live in `ntm_bench/suites/` and are run by name). Values resolve
as defaults (ntm_bench.config: TrainConfig, EvalConfig) < YAML < command line (`key.sub=value`); the
training settings of one run resolve as suite `train` < task `train` < model `train` < the model's
preset for the task < matching `overrides` entries (ntm_bench.spec). Everything is validated before
any run starts.

A `sweep:` (or `--sweep KEY=V1,V2`) maps `train.<field>`, `models.<label>.train.<field>` and
`models.<label>.options.<option>` to lists of values; every combination of the values that apply to a
(task, model) pair is a run of its own, the swept value winning over every layer above, with the
run id `<task>__<model>__<point>__s<seed>` (`config.sweep_label`, e.g. `batch_size=8,lr=0.001`).
`train.*` keys leave reference predictors (which do not train) alone. Runs without a sweep point
keep the id `<task>__<model>__s<seed>`.
"""
from __future__ import annotations

import dataclasses
import sys
import typing
from pathlib import Path

from ntm_bench import registry
# TrainConfig and EvalConfig live in ntm_bench.config (and stay importable from here)
from ntm_bench.config import (TRAIN_KEYS, EvalConfig, TrainConfig, build_dataclass, coerce, load_yaml,
                              parse_override, set_path)
from ntm_bench.errors import BenchError, choices
from ntm_bench.spec import ModelSpec, Suite, SweepKey, TaskSpec, build_task, resolve_train

__all__ = ["EvalConfig", "TrainConfig", "builtin_suites", "find_suite", "load_suite", "parse_suite", "select"]

SUITES_DIR = Path(__file__).parent / "suites"

SUITE_KEYS = ("name", "description", "seeds", "train", "eval", "tasks", "models", "overrides", "sweep")
SWEEP_FORMS = "train.<field>, models.<label>.train.<field>, models.<label>.options.<option>"
TASK_KEYS = ("task", "args", "train_range", "test", "train")
MODEL_KEYS = ("model", "preset", "options", "train")


def builtin_suites() -> dict[str, Path]:
    return {p.stem: p for p in sorted(SUITES_DIR.glob("*.yaml"))}


def find_suite(name_or_path: str) -> Path:
    suites = builtin_suites()
    if name_or_path in suites:
        return suites[name_or_path]
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.exists():
            raise BenchError(f"suite file {name_or_path!r} does not exist")
        return p
    raise BenchError(f"unknown suite {name_or_path!r}; built-in suites: {choices(suites)} (or give a YAML path)")


def load_suite(name_or_path: str, overrides: list[str] = (), tasks: list[str] | None = None,
               models: list[str] | None = None, seeds: list[int] | None = None,
               device: str | None = None) -> Suite:
    path = find_suite(name_or_path)
    raw = load_yaml(path)
    for text in overrides:
        parts, value = parse_override(text)
        if parts[0] not in SUITE_KEYS:
            raise BenchError(f"bad override {text!r}: unknown key {parts[0]!r}; valid: {choices(SUITE_KEYS)}")
        set_path(raw, parts, value)
    if device is not None:
        set_path(raw, ["train", "device"], device)
    add_registered(raw, tasks, models)
    suite = parse_suite(raw, source=str(path), default_name=path.stem)
    return select(suite, tasks=tasks, models=models, seeds=seeds)


def add_registered(raw: dict, tasks, models) -> None:
    """Add the selected registered tasks and models that the suite does not list (a plugin's) to
    its raw form: a task with its own training range and test points, a model with the suite's
    preset if it defines it (else its defaults, with a warning)."""
    preset = suite_preset(raw)
    for key, names, known in (("tasks", tasks, registry.task_names()), ("models", models, registry.model_names())):
        section = raw.get(key)
        if not isinstance(section, dict):
            continue
        for name in names or ():
            if name in section or name not in known:
                continue
            section[name] = {}
            if key == "models":
                if preset in registry.get_model(name).presets:
                    section[name] = {"preset": preset}
                elif preset is not None:
                    print(f"warning: model {name!r} has no preset {preset!r} (the suite's); it runs with "
                          f"its default options", file=sys.stderr)


def suite_preset(raw: dict) -> str | None:
    """The suite's preset: the one most of its models use (smoke: tiny), None if none or a tie."""
    models, counts = raw.get("models"), {}
    for spec in (models.values() if isinstance(models, dict) else ()):
        preset = spec.get("preset") if isinstance(spec, dict) else None
        if isinstance(preset, str):
            counts[preset] = counts.get(preset, 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    if not ranked or (len(ranked) > 1 and ranked[0][1] == ranked[1][1]):
        return None
    return ranked[0][0]


def _mapping(value, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BenchError(f"{where} must be a mapping, got {value!r}")
    return value


def _point(task_entry, value, where: str) -> tuple:
    axes = task_entry.cls.axes
    if isinstance(value, dict):
        unknown = set(value) - set(axes)
        if unknown or len(value) != len(axes):
            raise BenchError(f"{where}: a point needs the axes {', '.join(axes)}, got {value!r}")
        value = [value[a] for a in axes]
    values = value if isinstance(value, (list, tuple)) else [value]
    if len(values) != len(axes):
        raise BenchError(f"{where}: a point needs {len(axes)} value(s) ({', '.join(axes)}), got {value!r}")
    return tuple(coerce(v, int, where) for v in values)


def _test_range(text: str, task_entry, where: str) -> list[int]:
    """'41..500' (every value) or '41..500/10' (41, 51, ..., 491): test points of a one-axis task,
    selected by value."""
    form = "'lo..hi' or 'lo..hi/step', e.g. '41..500/10'"
    if len(task_entry.cls.axes) != 1:
        raise BenchError(f"{where}: a range {text!r} needs a one-axis task; {task_entry.name!r} has "
                         f"{', '.join(task_entry.cls.axes)}: list its points")
    body, _, step = text.strip().partition("/")
    lo, sep, hi = body.partition("..")
    try:
        lo, hi, step = int(lo), int(hi), int(step or 1)
    except ValueError:
        lo = None
    if not sep or lo is None or step < 1 or lo > hi:
        raise BenchError(f"{where}: bad range {text!r}; expected {form} with lo <= hi and step >= 1")
    return list(range(lo, hi + 1, step))


def parse_suite(raw: dict, source: str = "<dict>", default_name: str = "suite") -> Suite:
    unknown = set(raw) - set(SUITE_KEYS)
    if unknown:
        raise BenchError(f"unknown suite key {sorted(unknown)[0]!r} in {source}; valid: {choices(SUITE_KEYS)}")
    train = build_dataclass(TrainConfig, _mapping(raw.get("train"), "train"), where="train")
    evalc = build_dataclass(EvalConfig, _mapping(raw.get("eval"), "eval"), where="eval")
    seeds = coerce(raw.get("seeds", [0]), tuple[int, ...], "seeds")
    if not seeds:
        raise BenchError("seeds: the list of seeds is empty")
    if len(set(seeds)) != len(seeds):
        raise BenchError(f"seeds: repeated seed in {list(seeds)}")

    tasks_raw = _mapping(raw.get("tasks"), "tasks")
    if not tasks_raw:
        raise BenchError(f"suite {source}: no tasks; known tasks: {choices(registry.task_names())}")
    tasks = {}
    for label, spec in tasks_raw.items():
        spec = _mapping(spec, f"tasks.{label}")
        bad = set(spec) - set(TASK_KEYS)
        if bad:
            raise BenchError(f"unknown key {sorted(bad)[0]!r} in tasks.{label}; valid: {choices(TASK_KEYS)}")
        name = spec.get("task", label)
        entry = registry.get_task(name)
        args = _mapping(spec.get("args"), f"tasks.{label}.args")
        rng = dict(entry.cls.default_train)
        for axis, lohi in _mapping(spec.get("train_range"), f"tasks.{label}.train_range").items():
            if axis not in entry.cls.axes:
                raise BenchError(f"tasks.{label}.train_range: unknown axis {axis!r}; valid: {choices(entry.cls.axes)}")
            lohi = coerce(lohi, tuple[int, ...], f"tasks.{label}.train_range.{axis}")
            if len(lohi) != 2 or lohi[0] > lohi[1]:
                raise BenchError(f"tasks.{label}.train_range.{axis}: expected [lo, hi] with lo <= hi, got {list(lohi)}")
            rng[axis] = lohi
        rng = {a: tuple(rng[a]) for a in entry.cls.axes}
        task = build_task(name, args, rng, where=f"tasks.{label}")
        for corner in (tuple(lo for lo, _ in rng.values()), tuple(hi for _, hi in rng.values())):
            task.check_point(corner if len(corner) > 1 else corner[0])
        test_raw = spec.get("test", list(entry.cls.default_test))
        if isinstance(test_raw, str):
            test_raw = _test_range(test_raw, entry, f"tasks.{label}.test")
        if not isinstance(test_raw, (list, tuple)) or not test_raw:
            raise BenchError(f"tasks.{label}.test must be a non-empty list of points (or a range 'lo..hi[/step]')")
        test = []
        for i, v in enumerate(test_raw):
            p = _point(entry, v, f"tasks.{label}.test[{i}]")
            task.check_point(p if len(p) > 1 else p[0])
            if p not in test:
                test.append(p)
        train_over = _mapping(spec.get("train"), f"tasks.{label}.train")
        resolve_train(train, train_over, where=f"tasks.{label}.train")
        tasks[label] = TaskSpec(label, name, dict(args), rng, tuple(test), train_over)

    models_raw = _mapping(raw.get("models"), "models")
    if not models_raw:
        raise BenchError(f"suite {source}: no models; known models: {choices(registry.model_names())}")
    models = {}
    for label, spec in models_raw.items():
        spec = _mapping(spec, f"models.{label}")
        bad = set(spec) - set(MODEL_KEYS)
        if bad:
            raise BenchError(f"unknown key {sorted(bad)[0]!r} in models.{label}; valid: {choices(MODEL_KEYS)}")
        entry = registry.get_model(spec.get("model", label))
        preset = spec.get("preset")
        if preset is not None and preset not in entry.presets:
            where = f" (plugin {entry.plugin!r})" if entry.plugin else ""
            raise BenchError(f"models.{label}: model {entry.name!r}{where} has no preset {preset!r}; "
                             f"presets: {choices(entry.presets)}")
        options = _mapping(spec.get("options"), f"models.{label}.options")
        entry.make_config(options)
        mtrain = _mapping(spec.get("train"), f"models.{label}.train")
        resolve_train(train, mtrain, where=f"models.{label}.train")
        models[label] = ModelSpec(label, entry.name, preset, dict(options), mtrain)

    overrides = raw.get("overrides") or []
    if not isinstance(overrides, list):
        raise BenchError("overrides must be a list of {task, model, train, options} entries")
    for i, o in enumerate(overrides):
        o = _mapping(o, f"overrides[{i}]")
        bad = set(o) - {"task", "model", "train", "options"}
        if bad:
            raise BenchError(f"unknown key {sorted(bad)[0]!r} in overrides[{i}]; valid: model, options, task, train")
        if o.get("task", "*") not in ("*", *tasks):
            raise BenchError(f"overrides[{i}]: unknown task {o['task']!r}; suite tasks: {choices(tasks)}")
        if o.get("model", "*") not in ("*", *models):
            raise BenchError(f"overrides[{i}]: unknown model {o['model']!r}; suite models: {choices(models)}")
    suite = Suite(str(raw.get("name", default_name)), str(raw.get("description", "")), tuple(seeds),
                  train, evalc, tasks, models, tuple(overrides), source, parse_sweep(raw.get("sweep"), models))
    # resolve every (task, model) pair now, so bad combinations fail before any run starts (select()
    # checks for leaking targets among the pairs selected)
    suite.runs(check_leaks=False)
    return suite


def _flatten(tree: dict, prefix: str = "") -> dict:
    """{"train": {"lr": [...]}, "train.steps": [...]} -> {"train.lr": [...], "train.steps": [...]}; later wins."""
    out = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def parse_sweep(raw, models: dict) -> tuple:
    """`sweep:` as ((SweepKey, values), ...) sorted by key, each value coerced to its field's type.
    Keys may be dotted or nested (`sweep.train.lr=[...]` on the command line nests them)."""
    out = []
    for key, values in sorted(_flatten(_mapping(raw, "sweep")).items()):
        parts = key.split(".")
        if len(parts) == 2 and parts[0] == "train":
            model, kind, name = None, "train", parts[1]
        elif len(parts) == 4 and parts[0] == "models" and parts[2] in ("train", "options"):
            model, kind, name = parts[1:]
        else:
            raise BenchError(f"unknown sweep key {key!r}; valid forms: {SWEEP_FORMS}")
        if model is not None and model not in models:
            raise BenchError(f"sweep {key!r}: model {model!r} is not in this suite; suite models: {choices(models)}")
        if kind == "train":
            if name not in TRAIN_KEYS:
                raise BenchError(f"unknown sweep key {key!r}: no train field {name!r}; valid: {choices(TRAIN_KEYS)}")
            tp = typing.get_type_hints(TrainConfig)[name]
        else:
            entry = registry.get_model(models[model].model)
            types = entry.option_types()  # retired options too (an older sweep keeps its runs)
            if name not in types:
                fields = {f.name for f in dataclasses.fields(entry.config)} if entry.config else set()
                raise BenchError(f"unknown sweep key {key!r}: model {model!r} has no option {name!r}; "
                                 f"valid: {choices(fields)}")
            tp = types[name]
        if not isinstance(values, (list, tuple)):
            raise BenchError(f"sweep {key!r}: expected a list of values (e.g. [1e-3, 3e-4]), got {values!r}")
        if not values:
            raise BenchError(f"sweep {key!r}: the list of values is empty")
        values = tuple(coerce(v, tp, f"sweep {key!r}") for v in values)
        if len(set(map(repr, values))) != len(values):
            raise BenchError(f"sweep {key!r}: repeated value in {list(values)}")
        out.append((SweepKey(key, model, kind, name), values))
    every_model = {k.name for k, _ in out if k.model is None}
    for k, _ in out:
        if k.model is not None and k.kind == "train" and k.name in every_model:
            raise BenchError(f"sweep: 'train.{k.name}' and {k.text!r} both sweep the same field for model "
                             f"{k.model!r}; keep one")
    return tuple(out)


def _pick(kind: str, wanted: list[str] | None, available: dict) -> dict:
    if wanted is None:
        return available
    if not wanted:
        raise BenchError(f"--{kind}: the list is empty; suite {kind}: {choices(available)}")
    for w in wanted:
        if w not in available:
            raise BenchError(f"--{kind}: {w!r} is not in this suite; suite {kind}: {choices(available)}")
    return {k: available[k] for k in wanted}


def select(suite: Suite, tasks=None, models=None, seeds=None) -> Suite:
    s = dataclasses.replace(suite, tasks=_pick("tasks", tasks, suite.tasks),
                            models=_pick("models", models, suite.models))
    if seeds is not None:
        if not seeds:
            raise BenchError("--seeds: the list is empty")
        if len(set(seeds)) != len(seeds):
            raise BenchError(f"--seeds: repeated seed in {list(seeds)}")
        s = dataclasses.replace(s, seeds=tuple(seeds))
    if not s.runs():
        raise BenchError("no runs: no selected model can run any selected task")
    return s
