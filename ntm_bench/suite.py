"""Suites: which tasks, models, seeds, budgets and splits to run, and how values resolve.

A suite is a YAML file (built-ins live in `ntm_bench/suites/` and are run by name). Values resolve
as defaults (the dataclasses below) < YAML < command line (`key.sub=value`); the training settings of
one run resolve as suite `train` < task `train` < model `train` < the model's preset for the task <
matching `overrides` entries. Everything is validated before any run starts.

A `sweep:` (or `--sweep KEY=V1,V2`) maps `train.<field>`, `models.<label>.train.<field>` and
`models.<label>.options.<option>` to lists of values; every combination of the values that apply to a
(task, model) pair is a run of its own, the swept value winning over every layer above, with the
run id `<task>__<model>__<point>__s<seed>` (`config.sweep_label`, e.g. `batch_size=8,lr=0.001`).
`train.*` keys leave reference predictors (which do not train) alone. Runs without a sweep point
keep the id `<task>__<model>__s<seed>`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import sys
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

from ntm_bench import registry
from ntm_bench.config import build_dataclass, coerce, load_yaml, parse_override, set_path, sweep_label, to_dict
from ntm_bench.errors import BenchError, choices

SUITES_DIR = Path(__file__).parent / "suites"


@dataclass(frozen=True)
class TrainConfig:
    optimizer: Literal["adam", "rmsprop", "graves_rmsprop"] = "adam"  # Adam: Collier & Beel 2018
    lr: float = 1e-3                  # Collier & Beel 2018 (Adam)
    momentum: float = 0.9             # rmsprop / graves_rmsprop (Graves 2014 §4.6)
    rms_decay: float = 0.95           # graves_rmsprop rho (Graves 2013, eq. 38-40)
    rms_eps: float = 1e-4             # graves_rmsprop epsilon inside the square root
    # Learning-rate schedule over the step budget (the paper's is constant). cosine: from lr down to
    # lr * lr_final (Loshchilov & Hutter 2017, without restarts); warmup_steps: linear from lr/warmup.
    lr_schedule: Literal["constant", "cosine"] = "constant"
    lr_final: float = 0.1
    warmup_steps: int = 0
    batch_size: int = 32              # Collier & Beel 2018
    clip: Literal["norm", "value", "none"] = "norm"  # global norm (Collier & Beel) or elementwise (Graves)
    clip_value: float = 50.0          # Collier & Beel 2018: global-norm clipping at 50
    steps: int = 1000                 # budget in optimiser steps
    max_sequences: Optional[int] = None   # optional budget in training sequences
    max_seconds: Optional[float] = None   # optional budget in wall-clock seconds
    target_bit_errors: Optional[float] = None  # stop early once validation reaches this (bits per sequence)
    curriculum: Literal["uniform", "linear"] = "uniform"  # linear: the upper end of the range grows over the budget
    eval_every: int = 100             # steps between validation points (the learning curve)
    val_sequences: int = 256          # held-out sequences from the training range
    val_seed: int = 999               # fixed: every model is validated on the same sequences
    checkpoint_every: int = 200       # steps between resumable checkpoints (last.pt)
    checkpoint_seconds: Optional[float] = None  # also checkpoint when this much time passed since the last
    on_divergence: Literal["fail", "restart"] = "fail"  # NaN/inf loss: record as diverged, or restart
    restart_lr_factor: float = 0.5    # lr multiplier on each restart from the last good checkpoint
    max_restarts: int = 2
    threads: int = 1                  # torch threads per run (one is fastest on small models)
    device: str = "cpu"

    def __post_init__(self):
        for name in ("lr", "batch_size", "steps", "eval_every", "val_sequences", "checkpoint_every", "threads"):
            if getattr(self, name) <= 0:
                raise BenchError(f"train {name!r} must be positive, got {getattr(self, name)!r}")
        for name in ("max_sequences", "max_seconds", "checkpoint_seconds"):
            v = getattr(self, name)
            if v is not None and v <= 0:
                raise BenchError(f"train {name!r} must be positive, got {v!r}")
        if self.clip != "none" and self.clip_value <= 0:
            raise BenchError(f"train 'clip_value' must be positive, got {self.clip_value!r}")
        if not 0 < self.restart_lr_factor <= 1:
            raise BenchError(f"train 'restart_lr_factor' must be in (0, 1], got {self.restart_lr_factor!r}")
        if self.max_restarts < 0:
            raise BenchError(f"train 'max_restarts' must be 0 or more, got {self.max_restarts!r}")
        if not 0 <= self.rms_decay < 1 or self.momentum < 0 or self.rms_eps <= 0:
            raise BenchError(f"train: need 0 <= rms_decay < 1, momentum >= 0 and rms_eps > 0, got "
                             f"{self.rms_decay!r}, {self.momentum!r}, {self.rms_eps!r}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise BenchError(f"train 'lr_schedule': {self.lr_schedule!r}; valid: constant, cosine")
        if not 0 < self.lr_final <= 1 or self.warmup_steps < 0:
            raise BenchError(f"train: need 0 < lr_final <= 1 and warmup_steps >= 0, got {self.lr_final!r}, "
                             f"{self.warmup_steps!r}")
        if self.target_bit_errors is not None and self.target_bit_errors < 0:
            raise BenchError(f"train 'target_bit_errors' must be 0 or more, got {self.target_bit_errors!r}")
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise BenchError(f"train 'device' must be cpu or cuda[:N], got {self.device!r}")


@dataclass(frozen=True)
class EvalConfig:
    seed: int = 1234                  # fixed: every model is tested on the same sequences
    sequences: int = 256              # test sequences per test point
    batch_size: int = 64
    enlarge_memory: bool = True       # give memory models more rows when a test point needs them
    max_memory_rows: int = 4096       # refuse test points that would need more rows than this
    attention: bool = True            # save one test sequence's attention for models that expose it
    solved_threshold: float = 0.9     # a run "solves" a split at sequence accuracy >= this

    def __post_init__(self):
        for name in ("sequences", "batch_size", "max_memory_rows"):
            if getattr(self, name) <= 0:
                raise BenchError(f"eval {name!r} must be positive, got {getattr(self, name)!r}")
        if not 0 <= self.solved_threshold <= 1:
            raise BenchError(f"eval 'solved_threshold' must be in [0, 1], got {self.solved_threshold!r}")


TRAIN_KEYS = {f.name for f in dataclasses.fields(TrainConfig)}
# Train fields added after records existed: left out of a run's identity (config_hash) while at these
# values, so that runs recorded before a field existed keep their hash and stay complete. A field
# added to TrainConfig later belongs in this list (its default is read from the dataclass).
LATER_TRAIN_FIELDS = {f.name: f.default for f in dataclasses.fields(TrainConfig)
                      if f.name in ("lr_schedule", "lr_final", "warmup_steps")}


@dataclass(frozen=True)
class TaskSpec:
    label: str
    task: str                 # registry name
    args: dict                # task parameters
    train_range: dict         # axis -> (lo, hi) inclusive
    test: tuple               # points (tuples)
    train: dict               # TrainConfig overrides

    def build(self):
        entry = registry.get_task(self.task)
        return build_dataclass(entry.cls, self.args, where=f"task {self.label!r} arg")


@dataclass(frozen=True)
class ModelSpec:
    label: str
    model: str                # registry name
    preset: Optional[str]
    options: dict
    train: dict


@dataclass(frozen=True)
class RunSpec:
    """Everything one run needs, JSON-able, so it can travel to a worker process or a cluster."""
    run_id: str
    suite: str
    task: dict                # TaskSpec as dict
    model: dict               # ModelSpec as dict, with options resolved (preset applied)
    train: dict               # resolved TrainConfig
    eval: dict                # EvalConfig
    seed: int
    data_seed: int
    init_seed: int
    plugins: tuple = ()
    sweep: dict = dataclasses.field(default_factory=dict)  # the run's sweep point {key: value}, {} if none
    plugin_sha256: dict = dataclasses.field(default_factory=dict)  # {"task"/"model": sha256} of plugin sources

    def to_json(self) -> dict:
        return to_dict(self)

    def config_hash(self) -> str:
        """Identity of the run's science: excludes where it executes (device, threads) and when it
        saves checkpoints (a resumed run equals an uninterrupted one). It includes the source of a
        plugin that registers the run's task or model (an edited plugin is another run); a run of
        built-ins hashes exactly as before plugins were part of it."""
        d = self.to_json()
        d["train"] = {k: v for k, v in d["train"].items() if k not in ("device", "threads", "checkpoint_seconds")
                      and not (k in LATER_TRAIN_FIELDS and v == LATER_TRAIN_FIELDS[k])}
        d.pop("plugins", None)
        d.pop("sweep", None)  # a label: its values are in train / model options already
        if not d["plugin_sha256"]:
            d.pop("plugin_sha256")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    seeds: tuple
    train: TrainConfig
    eval: EvalConfig
    tasks: dict               # label -> TaskSpec
    models: dict              # label -> ModelSpec
    overrides: tuple          # ({"task": ..., "model": ..., "train": {...}, "options": {...}}, ...)
    source: str
    sweep: tuple = ()         # ((key, (value, ...)), ...) sorted by key (parse_sweep)

    def runs(self, plugins=()) -> list[RunSpec]:
        out = []
        for tl, ts in self.tasks.items():
            for ml, ms in self.models.items():
                entry = registry.get_model(ms.model)
                if entry.tasks is not None and ts.task not in entry.tasks:
                    continue  # e.g. the optimal N-gram predictor runs on dynamic_ngrams only
                options, train = resolve_model_for_task(ms, ts, self.overrides)
                for point in sweep_points(self.sweep, ml, entry.reference):
                    label = sweep_label(point)
                    opts = {**options, **{k.split(".")[-1]: v for k, v in point.items() if ".options." in k}}
                    tr = {**train, **{k.split(".")[-1]: v for k, v in point.items() if ".options." not in k}}
                    try:
                        if point:
                            entry.make_config(opts)
                        train_cfg = resolve_train(self.train, ts.train, ms.train, tr, where=f"{tl}/{ml}")
                    except BenchError as e:
                        if not point:
                            raise
                        raise BenchError(f"sweep point {label} of {tl}/{ml}: {e}") from None
                    for seed in self.seeds:
                        out.append(RunSpec(
                            run_id=f"{tl}__{ml}__{label + '__' if point else ''}s{seed}", suite=self.name,
                            task=to_dict(ts), model={**to_dict(ms), "options": opts},
                            train=to_dict(train_cfg), eval=to_dict(self.eval),
                            seed=seed, data_seed=seed + 10_000, init_seed=seed, plugins=tuple(plugins),
                            sweep=point, plugin_sha256=plugin_sources(ts.task, ms.model)))
        ids = [r.run_id for r in out]
        if len(set(ids)) != len(ids):
            twice = next(i for i in ids if ids.count(i) > 1)
            raise BenchError(f"sweep: two sweep points give the same run id {twice!r}; sweep distinct values")
        return out


def plugin_sources(task: str, model: str) -> dict:
    """{"task": sha256, "model": sha256} of the plugin files that register the task and the model
    (built-ins are left out, so their runs keep their ids and hashes)."""
    entries = {"task": registry.get_task(task), "model": registry.get_model(model)}
    return {kind: e.plugin_sha256 for kind, e in entries.items() if e.plugin_sha256}


def sweep_points(sweep: tuple, model: str, reference: bool = False) -> list[dict]:
    """Every combination of the sweep values that apply to `model`'s runs ([{}] when none do)."""
    keys = [(k, v) for k, v in sweep
            if k.startswith(f"models.{model}.") or (k.startswith("train.") and not reference)]
    return [dict(zip([k for k, _ in keys], combo)) for combo in itertools.product(*(v for _, v in keys))]


def resolve_model_for_task(ms: ModelSpec, ts: TaskSpec, overrides) -> tuple[dict, dict]:
    """Model options and train overrides for one task: preset, then the suite's own options."""
    entry = registry.get_model(ms.model)
    options, train = {}, {}
    if ms.preset:
        preset = entry.presets[ms.preset]
        per_task = preset.get(ts.task, preset.get("*"))
        if per_task is None:
            raise BenchError(f"model {ms.label!r}: preset {ms.preset!r} has no entry for task {ts.task!r}; "
                             f"it covers: {choices(preset)}")
        options.update(per_task.get("options", {}))
        train.update(per_task.get("train", {}))
    options.update(ms.options)
    for o in overrides:
        if o.get("task", "*") in ("*", ts.label) and o.get("model", "*") in ("*", ms.label):
            options.update(o.get("options", {}))
            train.update(o.get("train", {}))
    entry.make_config(options)  # validate now, with a message naming the model
    return options, train


def resolve_train(base: TrainConfig, *layers: dict, where: str) -> TrainConfig:
    values = to_dict(base)
    for layer in layers:
        for k in layer:
            if k not in TRAIN_KEYS:
                raise BenchError(f"unknown train key {k!r} ({where}); valid: {choices(TRAIN_KEYS)}")
        values.update(layer)
    return build_dataclass(TrainConfig, values, where="train")


# ----------------------------------------------------------------------------------------------
# Loading

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
        task = build_dataclass(entry.cls, _mapping(spec.get("args"), f"tasks.{label}.args"),
                               where=f"tasks.{label}.args")
        rng = dict(entry.cls.default_train)
        for axis, lohi in _mapping(spec.get("train_range"), f"tasks.{label}.train_range").items():
            if axis not in entry.cls.axes:
                raise BenchError(f"tasks.{label}.train_range: unknown axis {axis!r}; valid: {choices(entry.cls.axes)}")
            lohi = coerce(lohi, tuple[int, ...], f"tasks.{label}.train_range.{axis}")
            if len(lohi) != 2 or lohi[0] > lohi[1]:
                raise BenchError(f"tasks.{label}.train_range.{axis}: expected [lo, hi] with lo <= hi, got {list(lohi)}")
            rng[axis] = lohi
        rng = {a: tuple(rng[a]) for a in entry.cls.axes}
        for corner in (tuple(lo for lo, _ in rng.values()), tuple(hi for _, hi in rng.values())):
            task.check_point(corner if len(corner) > 1 else corner[0])
        test_raw = spec.get("test", list(entry.cls.default_test))
        if not isinstance(test_raw, (list, tuple)) or not test_raw:
            raise BenchError(f"tasks.{label}.test must be a non-empty list of points")
        test = []
        for i, v in enumerate(test_raw):
            p = _point(entry, v, f"tasks.{label}.test[{i}]")
            task.check_point(p if len(p) > 1 else p[0])
            if p not in test:
                test.append(p)
        train_over = _mapping(spec.get("train"), f"tasks.{label}.train")
        resolve_train(train, train_over, where=f"tasks.{label}.train")
        tasks[label] = TaskSpec(label, name, dict(_mapping(spec.get("args"), "")), rng, tuple(test), train_over)

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
    suite.runs()  # resolve every (task, model) pair now, so bad combinations fail before any run starts
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
    """`sweep:` as ((key, values), ...) sorted by key, each value coerced to its field's type.
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
        out.append((key, values))
    keys = [k for k, _ in out]
    for k in keys:
        if k.startswith("models.") and ".train." in k and f"train.{k.split('.')[-1]}" in keys:
            raise BenchError(f"sweep: {('train.' + k.split('.')[-1])!r} and {k!r} both sweep the same field "
                             f"for model {k.split('.')[1]!r}; keep one")
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
