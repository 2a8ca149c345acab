"""Configuration: the training and evaluation settings of a run, and how values become them.

`TrainConfig` and `EvalConfig` are the schema of a suite's `train:` and `eval:` sections (and of each
run's resolved settings); every default says where it comes from. Values resolve as defaults < YAML <
command line (ntm_bench.suite). `build_dataclass(cls, values)` fills a dataclass from a dict: an
unknown key names the valid ones, a value of the wrong type names the field and the expected type.
Numbers written as strings (PyYAML reads `1e-3` as a string) are coerced to the field's type.
"""
from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, Optional, Union, get_args, get_origin

import yaml

from ntm_bench.errors import BenchError, choices


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
    # The steps over which the schedule runs (None: the whole budget); after them the rate stays at
    # lr * lr_final. A longer budget with the same decay keeps a shorter run's first steps exactly and
    # then goes on at the final rate (results/recipe-search NG11).
    lr_decay_steps: Optional[int] = None
    batch_size: int = 32              # Collier & Beel 2018
    clip: Literal["norm", "value", "none"] = "norm"  # global norm (Collier & Beel) or elementwise (Graves)
    clip_value: float = 50.0          # Collier & Beel 2018: global-norm clipping at 50
    steps: int = 1000                 # budget in optimiser steps
    max_sequences: Optional[int] = None   # optional budget in training sequences
    max_seconds: Optional[float] = None   # optional budget in wall-clock seconds
    target_bit_errors: Optional[float] = None  # stop early once validation reaches this (bits per sequence)
    # The validation score that picks the checkpoint a run is tested with (and a sweep's configuration):
    # "bit_errors", fewer bit errors and then fewer bits; or "bits", the paper's cost first. The paper
    # does not say. bits suits tasks with random targets (dynamic N-grams), whose bit errors are mostly
    # the targets' own noise; bit_errors (the default, what every earlier record used) suits the rest.
    select_by: Literal["bit_errors", "bits"] = "bit_errors"
    # linear: the upper end of the range grows over the first half of the budget
    curriculum: Literal["uniform", "linear"] = "uniform"
    # Training draws each axis from the top (1 - range_floor) of the training range: 0 = all of it;
    # 0.5 on associative recall's 2..6 items draws 4..6. Validation (and so early stopping) and the
    # tests keep the whole range. Not in the paper (which draws the whole range); the NTM recipe
    # uses it where short sequences let the controller solve the task without the memory.
    range_floor: float = 0.0
    # The axes range_floor raises (None: every axis). Repeat copy's recipe raises `length` only: its
    # controller holds up to ~5 vectors in its own state, and sequences longer than that make it use
    # the memory, while every repeat count is still drawn (results/recipe-search RC10-RC12).
    range_floor_axes: Optional[tuple[str, ...]] = None
    # The fraction of the step budget over which range_floor holds; after it training draws the whole
    # range (1: the whole budget). A two-stage curriculum: long sequences first, then all of them, so
    # that a stop learned on long sequences alone does not depend on their length (RC12).
    range_floor_until: float = 1.0
    eval_every: int = 100             # steps between validation points (the learning curve)
    val_sequences: int = 256          # held-out sequences from the training range
    val_seed: int = 999               # fixed: every model is validated on the same sequences
    checkpoint_every: int = 200       # steps between resumable checkpoints (last.pt)
    checkpoint_seconds: Optional[float] = None  # also checkpoint when this much time passed since the last
    on_divergence: Literal["fail", "restart"] = "fail"  # NaN/inf loss: record as diverged, or restart
    restart_lr_factor: float = 0.5    # lr multiplier on each restart from the last good checkpoint
    max_restarts: int = 2
    # A new initialisation for a run still on its starting plateau: when a validation point comes
    # reinit_after_sequences or more training sequences into an attempt with more than
    # reinit_above_bit_errors bit errors per sequence, training goes on from fresh weights (drawn from
    # a seed derived from the run's) and a fresh optimiser, up to max_reinits times. The data stream
    # goes on, every attempt's sequences count toward the budget, and the best validation over all
    # attempts is what gets tested. Not in the paper; off (None) by default.
    reinit_after_sequences: Optional[int] = None
    reinit_above_bit_errors: float = 1.0
    max_reinits: int = 1
    threads: int = 1                  # torch threads per run (one is fastest on small models)
    device: str = "cpu"

    def __post_init__(self):
        for name in ("lr", "batch_size", "steps", "eval_every", "val_sequences", "checkpoint_every", "threads"):
            if getattr(self, name) <= 0:
                raise BenchError(f"train {name!r} must be positive, got {getattr(self, name)!r}")
        for name in ("max_sequences", "max_seconds", "checkpoint_seconds", "reinit_after_sequences", "lr_decay_steps"):
            v = getattr(self, name)
            if v is not None and v <= 0:
                raise BenchError(f"train {name!r} must be positive, got {v!r}")
        if self.clip != "none" and self.clip_value <= 0:
            raise BenchError(f"train 'clip_value' must be positive, got {self.clip_value!r}")
        if not 0 < self.restart_lr_factor <= 1:
            raise BenchError(f"train 'restart_lr_factor' must be in (0, 1], got {self.restart_lr_factor!r}")
        for name in ("max_restarts", "max_reinits", "reinit_above_bit_errors"):
            if getattr(self, name) < 0:
                raise BenchError(f"train {name!r} must be 0 or more, got {getattr(self, name)!r}")
        if not 0 <= self.range_floor < 1:
            raise BenchError(f"train 'range_floor' must be in [0, 1), got {self.range_floor!r}")
        if not 0 < self.range_floor_until <= 1:
            raise BenchError(f"train 'range_floor_until' must be in (0, 1], got {self.range_floor_until!r}")
        if self.range_floor_axes is not None and not self.range_floor_axes:
            raise BenchError("train 'range_floor_axes' is empty; name the axes to raise, or null for every axis")
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
                      if f.name in ("lr_schedule", "lr_final", "warmup_steps", "range_floor", "reinit_after_sequences",
                                    "reinit_above_bit_errors", "max_reinits", "select_by", "range_floor_axes",
                                    "range_floor_until", "lr_decay_steps")}


# ----------------------------------------------------------------------------------------------
# Strict construction from YAML / command-line values

def _type_name(tp) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in get_args(tp))
    if origin in (tuple, list):
        args = get_args(tp)
        inner = _type_name(args[0]) if args else "value"
        return f"list of {inner}"
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def coerce(value: Any, tp, where: str) -> Any:
    """Convert `value` to type `tp` or raise BenchError naming `where`."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin is Literal:
        allowed = get_args(tp)
        if value in allowed:
            return value
        raise BenchError(f"{where}: {value!r} is not one of {', '.join(repr(a) for a in allowed)}")
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return coerce(value, a, where)
            except BenchError as e:
                errors.append(str(e))
        if len(errors) == 1 and type(None) in args:  # Optional[X]: X's own message
            raise BenchError(f"{errors[0]} (nor null)")
        raise BenchError(f"{where}: {value!r} is not a {_type_name(tp)}")
    if origin in (tuple, list):
        args = get_args(tp)
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip() != ""]
        if not isinstance(value, (list, tuple)):
            raise BenchError(f"{where}: {value!r} is not a {_type_name(tp)}")
        inner = args[0] if args else Any
        out = [coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on", "false", "no", "0", "off"):
            return value.lower() in ("true", "yes", "1", "on")
        raise BenchError(f"{where}: {value!r} is not a bool (true/false)")
    if tp is int:
        if isinstance(value, bool):
            raise BenchError(f"{where}: {value!r} is not an int")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                f = float(value)
            except ValueError:
                raise BenchError(f"{where}: {value!r} is not an int") from None
            if f.is_integer():
                return int(f)
        raise BenchError(f"{where}: {value!r} is not an int")
    if tp is float:
        if isinstance(value, bool):
            raise BenchError(f"{where}: {value!r} is not a number")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise BenchError(f"{where}: {value!r} is not a number") from None
        raise BenchError(f"{where}: {value!r} is not a number")
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise BenchError(f"{where}: {value!r} is not a string")
    if tp is dict or origin is dict:
        if isinstance(value, dict):
            return dict(value)
        raise BenchError(f"{where}: {value!r} is not a mapping")
    return value


def build_dataclass(cls, values: dict | None, where: str = "config"):
    """Instantiate dataclass `cls` from `values` strictly; nested dataclass fields take dicts."""
    values = dict(values or {})
    if not isinstance(values, dict):
        raise BenchError(f"{where}: expected a mapping, got {values!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = set(values) - set(fields)
    if unknown:
        bad = sorted(unknown)[0]
        raise BenchError(f"unknown {where} {bad!r}; valid: {choices(fields)}")
    kwargs = {}
    for name, value in values.items():
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            kwargs[name] = build_dataclass(tp, value if value is not None else {}, f"{where} {name}.*")
        else:
            kwargs[name] = coerce(value, tp, f"{where} {name!r}")
    try:
        obj = cls(**kwargs)
    except BenchError:
        raise
    except (TypeError, ValueError) as e:
        raise BenchError(f"{where}: {e}") from None
    return obj


def to_dict(obj) -> Any:
    """A dataclass (possibly nested) as plain JSON-able values."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def parse_override(text: str) -> tuple[list[str], Any]:
    """'train.lr=3e-4' -> (['train', 'lr'], 3e-4); the value is read as YAML (strings stay strings)."""
    if "=" not in text:
        raise BenchError(f"bad override {text!r}: expected key.sub=value (e.g. train.lr=3e-4)")
    key, raw = text.split("=", 1)
    parts = key.strip().split(".")
    if not key.strip() or any(not p for p in parts):
        raise BenchError(f"bad override {text!r}: empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return parts, value


def set_path(tree: dict, parts: list[str], value: Any) -> None:
    """Set tree[a][b][c] = value, creating mappings on the way."""
    node = tree
    for p in parts[:-1]:
        child = node.get(p)
        if child is None:
            child = node[p] = {}
        if not isinstance(child, dict):
            raise BenchError(f"bad override {'.'.join(parts)}: {p!r} is not a mapping")
        node = child
    node[parts[-1]] = value


def load_yaml(path) -> dict:
    """Read a YAML mapping; a syntax error or a non-mapping is a BenchError naming the file."""
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except FileNotFoundError:
        raise BenchError(f"config file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise BenchError(f"config file {str(path)!r} is a folder, not a YAML file") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise BenchError(f"malformed YAML in {str(path)!r}{at}: {problem}") from None
    except UnicodeDecodeError:
        raise BenchError(f"config file {str(path)!r} is not text") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise BenchError(f"config file {str(path)!r} must hold a mapping at the top level, got {type(data).__name__}")
    return data


def sweep_label(point: dict) -> str:
    """A sweep point ({"train.lr": 0.001, "train.batch_size": 8}) as a readable, filesystem-safe run-id
    fragment: `batch_size=8,lr=0.001`, in the point's key order. Keys are shown by their last part,
    or by their last two (`options.x`, `train.x`) where two keys of the point share a last part;
    a run of characters other than letters, digits and `._+-` in a value becomes one `_`."""
    names = [k.split(".")[-1] for k in point]
    parts = []
    for (key, value), name in zip(point.items(), names):
        if names.count(name) > 1:
            name = ".".join(key.split(".")[-2:])
        text = repr(value) if isinstance(value, float) else str(value)
        parts.append(f"{name}={re.sub(r'[^A-Za-z0-9._+-]+', '_', text)}")
    return ",".join(parts)
