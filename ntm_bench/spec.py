"""What a suite plans: tasks, models and the runs they make, each run's settings resolved.

`Suite` is a suite file after validation (ntm_bench.suite reads it); `Suite.runs()` resolves every
(task, model, sweep point, seed) into a `RunSpec`: everything one run needs, JSON-able, with its
identity (`RunSpec.config_hash`). The training settings of one run resolve as suite `train` < task
`train` < model `train` < the model's preset for the task < matching `overrides` entries < the
run's sweep point. Resolving refuses, before any run starts, a pair whose model would see the
targets (`check_no_leak`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from dataclasses import dataclass
from typing import NamedTuple, Optional

from ntm_bench import registry
from ntm_bench.config import (LATER_TRAIN_FIELDS, TRAIN_KEYS, EvalConfig, TrainConfig, build_dataclass,
                              sweep_label, to_dict)
from ntm_bench.errors import BenchError, choices


@dataclass(frozen=True)
class TaskSpec:
    label: str
    task: str                 # registry name
    args: dict                # task parameters
    train_range: dict         # axis -> (lo, hi) inclusive
    test: tuple               # points (tuples)
    train: dict               # TrainConfig overrides

    def build(self):
        return build_task(self.task, self.args, self.train_range, where=f"task {self.label!r}")


def build_task(name: str, args: dict, train_range: dict, where: str):
    """The task instance a run samples from: its arguments, then what it takes from its training
    range (`Task.for_training_range`: repeat copy's count normalisation); BenchError naming `where`."""
    entry = registry.get_task(name)
    task = build_dataclass(entry.cls, args, where=f"{where} arg")
    try:
        return task.for_training_range({a: tuple(v) for a, v in train_range.items()})
    except BenchError as e:
        raise BenchError(f"{where}: {e}") from None


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
    sweep: tuple = ()         # ((SweepKey, (value, ...)), ...) sorted by key (suite.parse_sweep)

    def runs(self, plugins=(), check_leaks: bool = True) -> list[RunSpec]:
        """Every run of the suite, resolved. `check_leaks`: refuse a pair whose model would see the
        targets (check_no_leak; off only to validate a suite before --tasks / --models select from it)."""
        out = []
        for tl, ts in self.tasks.items():
            for ml, ms in self.models.items():
                entry = registry.get_model(ms.model)
                if entry.tasks is not None and ts.task not in entry.tasks:
                    continue  # e.g. the optimal N-gram predictor runs on dynamic_ngrams only
                options, train = resolve_model_for_task(ms, ts, self.overrides)
                for point in sweep_points(self.sweep, ml, entry.reference):
                    sweep = {k.text: v for k, v in point.items()}  # the run's record of its point
                    label = sweep_label(sweep)
                    opts = {**options, **{k.name: v for k, v in point.items() if k.kind == "options"}}
                    tr = {**train, **{k.name: v for k, v in point.items() if k.kind == "train"}}
                    try:
                        cfg = entry.make_config(opts)
                        train_cfg = resolve_train(self.train, ts.train, ms.train, tr, where=f"{tl}/{ml}")
                        check_floor_axes(train_cfg, ts, where=f"{tl}/{ml}")
                        if check_leaks:
                            check_no_leak(ts, ml, entry, cfg)
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
                            sweep=sweep, plugin_sha256=plugin_sources(ts.task, ms.model)))
        ids = [r.run_id for r in out]
        if len(set(ids)) != len(ids):
            twice = next(i for i in ids if ids.count(i) > 1)
            raise BenchError(f"sweep: two sweep points give the same run id {twice!r}; sweep distinct values")
        return out


def check_floor_axes(train: TrainConfig, ts: TaskSpec, where: str) -> None:
    """train.range_floor_axes must name axes of the run's task."""
    axes = registry.get_task(ts.task).cls.axes
    for axis in train.range_floor_axes or ():
        if axis not in axes:
            raise BenchError(f"{where}: train 'range_floor_axes': task {ts.task!r} has no axis {axis!r}; "
                             f"valid: {choices(axes)}")


def plugin_sources(task: str, model: str) -> dict:
    """{"task": sha256, "model": sha256} of the plugin files that register the task and the model
    (built-ins are left out, so their runs keep their ids and hashes)."""
    entries = {"task": registry.get_task(task), "model": registry.get_model(model)}
    return {kind: e.plugin_sha256 for kind, e in entries.items() if e.plugin_sha256}


class SweepKey(NamedTuple):
    """One swept setting, parsed once from what the suite wrote (suite.parse_sweep)."""
    text: str                 # as written: `train.lr`, `models.ntm.options.memory_rows` (the record's key)
    model: Optional[str]      # the model label it is limited to; None: every model that trains
    kind: str                 # "train" (a TrainConfig field) or "options" (a model option)
    name: str                 # the field or option


def sweep_points(sweep: tuple, model: str, reference: bool = False) -> list[dict]:
    """Every combination of the sweep values that apply to `model`'s runs, as {SweepKey: value}
    ([{}] when none do). `train.*` keys leave reference predictors, which do not train, alone."""
    keys = [(k, v) for k, v in sweep if k.model == model or (k.model is None and not reference)]
    return [dict(zip([k for k, _ in keys], combo)) for combo in itertools.product(*(v for _, v in keys))]


def check_no_leak(ts: TaskSpec, model_label: str, entry: registry.ModelEntry, cfg) -> None:
    """Refuse a model that sees later inputs (`register_model(causal=...)`, e.g. a Transformer with
    `causal: false`) on a task where a later input reveals an earlier target (`Task.noncausal_leak`):
    it would be scored on targets it can read."""
    if entry.is_causal(cfg):
        return
    leak = registry.get_task(ts.task).cls.noncausal_leak
    if leak is None:
        return
    how = f"option {entry.causal}: false" if isinstance(entry.causal, str) else "registered with causal=False"
    fix = (f"set {entry.causal}: true for it on this task (e.g. overrides: [{{model: {model_label}, task: "
           f"{ts.label}, options: {{{entry.causal}: true}}}}]) or " if isinstance(entry.causal, str) else "")
    raise BenchError(f"model {model_label!r} sees later inputs ({how}), which task {ts.label!r} does not allow: "
                     f"{leak}; {fix}leave the pair out (--tasks / --models)")


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
