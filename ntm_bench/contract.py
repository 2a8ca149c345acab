"""The contract between the harness and a model or a task (README, "The model contract" and "Adding
a task"), checked where it can be: when a class is registered (its methods, signatures and presets)
and when the harness calls an optional method whose output it cannot know in advance (`trace`).

A model is an `nn.Module` built as `cls(input_size, output_size, cfg)` (or `cls(input_size,
output_size)` without options) whose `forward(x, valid=None)` maps inputs (B, T, in) to logits
(B, T, out). Optional: `trace(x[, valid])` -> `(logits, {head: weights (B, T, N)})`,
`memory_rows` with `set_memory_rows(rows)` for a memory that can grow at evaluation time, and
`max_steps` for a model that takes sequences of bounded length.
`Model` below is a base class that states this; subclassing it is optional.
"""
from __future__ import annotations

import inspect

import torch
from torch import nn

from ntm_bench.errors import BenchError, choices

PRESET_KEYS = ("options", "train")
TRACE_SHAPE = "(logits (B, T, outputs), {head name: weights (B, T, N)})"


class Model(nn.Module):
    """Optional base class of a model (README, "The model contract").

    - `__init__(input_size, output_size, cfg)`: `cfg` is the frozen dataclass given to
      `register_model(name, config=...)` (leave it out when the model has no options).
    - `forward(x, valid=None) -> logits`: x (B, T, input_size) float; logits (B, T, output_size),
      one per output channel and step: the harness applies a sigmoid per channel for a task whose
      `output_kind` is "bits", a softmax over the channels for a "categorical" one (the model does
      not need to know which). `valid` (B, T) bool marks each
      sequence's real steps: a prefix of every row (padding only at the end), True at least at the
      first step. A sample's logits at its real steps must not depend on the padding or on the
      other samples of the batch; logits at padded steps are never scored.
    - `trace(x, valid=None) -> (logits, {head: weights})` (optional): the same logits and, per head,
      its weighting over N memory locations at every step, (B, T, N), non-negative (a head's
      weights at one step normally sum to 1). Used for memory pictures and fingerprints only; if it
      fails, the run is still trained and evaluated and its record says why the pictures are missing.
    - `memory_rows` and `set_memory_rows(rows)` (optional): a memory that can be given more rows at
      evaluation time for test sequences longer than it holds (`eval.enlarge_memory`);
      `can_resize_memory()` may say it cannot (e.g. a learned initial memory). A model may keep
      fewer rows than asked (a cap of its own, e.g. the DNC's `max_test_rows`): `memory_rows` then
      says how many it has, and each test row of the record says so.
    - `max_steps` (optional): the longest sequence (T steps) it takes, or None for any; a suite whose
      training or test sequences are longer fails before it starts.
    """

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError


# ----------------------------------------------------------------------------------------------
# At registration

def _takes_inputs(fn) -> bool:
    """Whether an (unbound) method can be called as fn(self, x)."""
    try:
        inspect.signature(fn).bind(None, None)
    except TypeError:
        return False
    except ValueError:  # no signature to inspect (a builtin): assume it can
        return True
    return True


def check_model_class(name: str, cls, config: type | None, presets: dict) -> None:
    """BenchError naming the model if the class cannot keep the contract."""
    if not isinstance(cls, type) or not issubclass(cls, nn.Module):
        raise BenchError(f"model {name!r}: {cls!r} must be a class derived from torch.nn.Module")
    if cls.forward in (nn.Module.forward, Model.forward):
        raise BenchError(f"model {name!r}: {cls.__name__} defines no forward(x, valid=None)")
    if not _takes_inputs(cls.forward):
        raise BenchError(f"model {name!r}: {cls.__name__}.forward must take the inputs x (B, T, in) as its "
                         f"first argument: forward(x, valid=None)")
    args = (1, 2, None) if config is not None else (1, 2)
    try:
        inspect.signature(cls).bind(*args)
    except TypeError:
        want = "input_size, output_size, cfg" if config is not None else "input_size, output_size"
        raise BenchError(f"model {name!r}: {cls.__name__}({want}) must be how it is built") from None
    except ValueError:
        pass
    trace = getattr(cls, "trace", None)
    if trace is not None and not (callable(trace) and _takes_inputs(trace)):
        raise BenchError(f"model {name!r}: {cls.__name__}.trace must be a method trace(x, valid=None) "
                         f"returning {TRACE_SHAPE}")
    if hasattr(cls, "memory_rows") and not callable(getattr(cls, "set_memory_rows", None)):
        raise BenchError(f"model {name!r}: {cls.__name__} has memory_rows but no set_memory_rows(rows)")
    check_presets(name, config, presets)


def check_presets(name: str, config: type | None, presets) -> None:
    """presets: {preset: {task name or '*': {'options': {...}, 'train': {...}}}}, every option and
    train key known and every option value valid."""
    from ntm_bench.config import build_dataclass
    from ntm_bench.config import TRAIN_KEYS

    form = "{preset: {task or '*': {'options': {...}, 'train': {...}}}}"
    if not isinstance(presets, dict):
        raise BenchError(f"model {name!r}: presets must be a mapping {form}, got {presets!r}")
    for preset, per_task in presets.items():
        if not isinstance(per_task, dict) or not per_task:
            raise BenchError(f"model {name!r}: preset {preset!r} must map task names (or '*') to "
                             f"{{'options': {{...}}, 'train': {{...}}}}, got {per_task!r}")
        for task, spec in per_task.items():
            where = f"model {name!r} preset {preset!r} ({task})"
            if not isinstance(spec, dict):
                raise BenchError(f"{where}: expected {{'options': {{...}}, 'train': {{...}}}}, got {spec!r}")
            bad = set(spec) - set(PRESET_KEYS)
            if bad:
                raise BenchError(f"{where}: unknown key {sorted(bad)[0]!r}; valid: {choices(PRESET_KEYS)}")
            options, train = spec.get("options") or {}, spec.get("train") or {}
            if config is None and options:
                raise BenchError(f"{where}: the model takes no options, got: {choices(options)}")
            if config is not None:
                build_dataclass(config, dict(options), where=f"{where} option")
            unknown = set(train) - TRAIN_KEYS
            if unknown:
                raise BenchError(f"{where}: unknown train key {sorted(unknown)[0]!r}; valid: {choices(TRAIN_KEYS)}")


def check_task_class(name: str, cls) -> None:
    """BenchError naming the task if the class cannot keep the task contract (tasks/base.py)."""
    from tasks.base import Task, as_tuple

    if not isinstance(cls, type) or not issubclass(cls, Task):
        raise BenchError(f"task {name!r}: {cls!r} must be a class derived from ntm_bench.Task")
    if "__dataclass_fields__" not in vars(cls):  # its own @dataclass, not only Task's
        raise BenchError(f"task {name!r}: {cls.__name__} must be a dataclass: put @register_task({name!r}) "
                         f"above @dataclass(frozen=True)")
    from ntm_bench.metrics import KINDS

    kind = getattr(cls, "output_kind", "bits")
    if kind not in KINDS:
        raise BenchError(f"task {name!r}: unknown output_kind {kind!r}; valid: {choices(KINDS)}")
    version = cls.version
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise BenchError(f"task {name!r}: version must be a positive integer, got {version!r}")
    axes = cls.axes
    if (not isinstance(axes, tuple) or not axes or len(set(axes)) != len(axes)
            or not all(isinstance(a, str) and a for a in axes)):
        raise BenchError(f"task {name!r}: axes must be a tuple of distinct names, e.g. ('length',), got {axes!r}")
    train = cls.default_train
    if not isinstance(train, dict) or set(train) != set(axes):
        raise BenchError(f"task {name!r}: default_train must give a (lo, hi) range for each axis "
                         f"({', '.join(axes)}), got {train!r}")
    for axis, lohi in train.items():
        if (not isinstance(lohi, (tuple, list)) or len(lohi) != 2 or not all(isinstance(v, int) for v in lohi)
                or not 1 <= lohi[0] <= lohi[1]):
            raise BenchError(f"task {name!r}: default_train[{axis!r}] must be (lo, hi) with 1 <= lo <= hi, got {lohi!r}")
    for point in cls.default_test:
        if len(as_tuple(point)) != len(axes):
            raise BenchError(f"task {name!r}: default_test point {point!r} needs one value per axis ({', '.join(axes)})")
    missing = [m for m in ("input_size", "output_size", "sequence_length") if getattr(cls, m) is getattr(Task, m)]
    if cls.sample is Task.sample and (cls.draw is Task.draw or cls.encode is Task.encode):
        missing.append("sample (or draw and encode)")
    if missing:
        raise BenchError(f"task {name!r}: {cls.__name__} does not define {', '.join(missing)}")


# ----------------------------------------------------------------------------------------------
# At run time

def check_instance(model, who: str) -> None:
    """What only an instance shows: a memory size without a way to change it, a bad `max_steps`."""
    most = getattr(model, "max_steps", None)
    if most is not None and (not isinstance(most, int) or isinstance(most, bool) or most < 1):
        raise BenchError(f"{who}: max_steps must be a positive integer or None, got {most!r}")
    rows = getattr(model, "memory_rows", None)
    if rows is None:
        return
    if not isinstance(rows, int) or isinstance(rows, bool) or rows < 1:
        raise BenchError(f"{who}: memory_rows must be a positive integer, got {rows!r}")
    if not callable(getattr(model, "set_memory_rows", None)):
        raise BenchError(f"{who}: has memory_rows but no set_memory_rows(rows)")


def check_trace(out, inputs: torch.Tensor, output_size: int, who: str) -> tuple:
    """trace()'s return value as (logits, {head: (B, T, N)}), or a BenchError saying what is wrong."""
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        got = f"a {len(out)}-tuple" if isinstance(out, (tuple, list)) else f"a {type(out).__name__}"
        raise BenchError(f"{who}: trace() returned {got}, expected {TRACE_SHAPE}")
    logits, weights = out
    B, T = inputs.shape[:2]
    if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (B, T, output_size):
        got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise BenchError(f"{who}: trace() returned logits {got}, expected {(B, T, output_size)}")
    if not isinstance(weights, dict) or not weights:
        raise BenchError(f"{who}: trace() returned {type(weights).__name__ if not isinstance(weights, dict) else 'an empty dict'} "
                         f"as its weights, expected {{head name: weights (B, T, N)}}")
    for head, w in weights.items():
        if not isinstance(head, str):
            raise BenchError(f"{who}: trace() weights: head names must be strings, got {head!r}")
        if (not isinstance(w, torch.Tensor) or w.dim() != 3 or tuple(w.shape[:2]) != (B, T) or w.shape[2] < 1
                or not w.is_floating_point()):
            got = tuple(w.shape) if isinstance(w, torch.Tensor) else type(w).__name__
            raise BenchError(f"{who}: trace() weights of head {head!r}: got {got}, expected a float tensor "
                             f"(B, T, N) = ({B}, {T}, N)")
        if not bool(torch.isfinite(w).all()) or bool((w < 0).any()):
            raise BenchError(f"{who}: trace() weights of head {head!r} must be finite and non-negative")
    return logits, weights
