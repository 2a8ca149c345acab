"""The run record's schema: what a run's `summary.json` and `curve.jsonl` hold (docs/records.md).

Frozen dataclasses whose fields are the record's keys, in the order they are written. The writer
(ntm_bench.train) builds a `RunRecord` and writes `to_json()`; the reader (ntm_bench.report.load)
gets one back from `RunRecord.from_json`, which reads every record written since schema 1: a key
added later (`config_hash`, `model.preset`, `sweep`, `plugin_sha256`, `trace_error`, ...) reads as it
would have been then (`sweep` and `plugin_sha256` as {}, the others as null). A record of another
schema is refused with one line naming it (`RecordError`). docs/records.md is tested against these
classes (tests/test_records_schema.py): a key added here must be documented there.

`env` is open: the keys of `Env` are those every run writes today (and `code_path`, `cuda`,
`cudnn` where they apply); a newer writer may add keys, which readers keep and pass on.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, Optional, TypedDict

SCHEMA = 1

Status = Literal["ok", "diverged", "failed"]
# Why training stopped: a budget (TrainConfig.steps, max_sequences, max_seconds), validation reaching
# TrainConfig.target_bit_errors, a divergence, or nothing to train (a reference predictor).
StoppedBy = Literal["steps", "sequences", "seconds", "target", "diverged", "no trainable parameters"]
STOPPED_BY = StoppedBy.__args__
Split = Literal["train", "unseen"]


class RecordError(ValueError):
    """A file that is not a run record this version can read; the message is one line."""


def _absent(default):
    """A key that older records may lack: `from_json` reads it as `default` (other absent keys read
    as null). The writer gives every field: none has a default."""
    return field(metadata={"absent": default})


@dataclass(frozen=True, kw_only=True)
class TaskRecord:
    name: str                          # registry name
    label: str                         # the suite's label for it
    version: Optional[int]             # the task's sampling version (null: it could not be built)
    args: dict                         # the task's arguments, as the suite wrote them
    axes: Optional[list]               # its generalisation axes, e.g. ["length", "repeats"]
    train_range: dict                  # axis -> [lo, hi], inclusive
    test: list                         # test points, each [value per axis]
    plugin: Optional[str] = _absent(None)  # the plugin file that registered it (relative to the output folder)


@dataclass(frozen=True, kw_only=True)
class ModelRecord:
    label: str                         # the suite's label for it
    name: str                          # registry name
    preset: Optional[str] = _absent(None)  # the preset named in the suite, if any
    options: dict = _absent({})        # resolved options (preset, suite, overrides, sweep point)
    params: Optional[int] = _absent(None)  # trainable parameters
    reference: bool = _absent(False)   # a reference predictor (no training), e.g. ngram_optimal
    plugin: Optional[str] = _absent(None)


@dataclass(frozen=True, kw_only=True)
class TrainingRecord:
    steps: int                         # optimiser steps taken
    sequences: int                     # training sequences seen
    wall_s: float                      # training time, validation included
    best_step: Optional[int]           # the step of the checkpoint that was tested
    best_val: Optional[dict]           # its validation metrics, {"val_bits": ..., "val_bit_errors": ..., ...}
    stopped_by: Optional[StoppedBy]
    diverged_at: Optional[int]         # the step whose loss or gradient was not finite
    restarts: int = _absent(0)         # restarts from the last good state after divergence
    resumed_from: Optional[int] = _absent(None)  # the step this invocation resumed from (last.pt)
    reinits: int = _absent(0)          # new initialisations after a plateau (train.reinit_after_sequences)


@dataclass(frozen=True, kw_only=True)
class EvalRow:
    point: list                        # one value per axis
    label: str                         # e.g. "30", "length=10,repeats=20"
    axes: dict                         # axis -> value
    split: Split                       # "train": every axis inside the training range; "unseen": any beyond
    bits: float                        # metrics: means over the test sequences (ntm_bench.metrics)
    bit_errors: float
    bit_accuracy: float
    seq_accuracy: float
    excess_bits: Optional[float]       # bits above the task's reference predictor (N-grams), else null
    n: int                             # test sequences
    memory_rows: Optional[int]         # rows the model's memory had at this point (null: no memory)
    # per-symbol accuracy, on tasks with categorical outputs only (the key is absent on bit tasks)
    accuracy: Optional[float] = field(default=None, metadata={"absent": None, "omit_if_none": True})


@dataclass(frozen=True, kw_only=True)
class Fingerprints:
    point: str                         # the test point measured (the first beyond training)
    heads: dict                        # head name -> {entropy, step_one, stay, forward, steps, pairs}


class Env(TypedDict, total=False):
    """Where the run ran; open to more keys (a newer writer's are kept by every reader)."""
    python: str
    torch: str                         # version without the build suffix, e.g. "2.13.0"
    torch_build: str                   # torch.__version__ as installed, e.g. "2.13.0+cpu"
    numpy: str
    pandas: str
    platform: str                      # platform.platform()
    cpu: str                           # the CPU's model name
    host: str
    git_commit: Optional[str]          # HEAD of the clone, "-dirty" if tracked files changed
    device: str                        # "cpu", "cuda", "cuda:1"
    device_name: str                   # the CPU or GPU model
    cuda: str                          # CUDA devices only
    cudnn: int                         # CUDA devices only
    threads: int                       # torch threads
    deterministic: bool                # torch.are_deterministic_algorithms_enabled()
    code_path: dict                    # models with several code paths (the NTM): phase -> path
    ntm_kernels: str                   # records before code_path (NTM only): "native" or "python"


@dataclass(frozen=True, kw_only=True)
class RunRecord:
    """summary.json: one run, complete (status ok or diverged) or failed."""
    schema: int
    run_id: str
    suite: str
    status: Status
    error: Optional[str]               # one line: why it failed or diverged
    config_hash: Optional[str] = _absent(None)  # the run's identity (spec.RunSpec.config_hash)
    task: TaskRecord
    model: ModelRecord
    seed: int = _absent(None)
    data_seed: int = _absent(None)
    init_seed: int = _absent(None)
    eval_seed: int = _absent(None)
    train: dict = _absent({})          # the resolved TrainConfig
    sweep: dict = _absent({})          # the run's sweep point {key: value}, {} outside a sweep
    plugin_sha256: dict = _absent({})  # {"task"/"model": SHA-256 of its plugin's source}, built-ins left out
    training: Optional[TrainingRecord] = _absent(None)  # null: the run failed before training
    eval: list = _absent([])           # EvalRow per test point
    fingerprints: Optional[Fingerprints] = _absent(None)
    trace_error: Optional[str] = _absent(None)  # why a model with trace() has no attention record
    notes: list = _absent([])          # what happened around the run that is worth knowing
    env: Optional[Env] = _absent(None)
    started_at: Optional[str] = _absent(None)   # ISO-8601, UTC
    finished_at: Optional[str] = _absent(None)

    def to_json(self) -> dict:
        """The record as written: keys in field order, nested records as objects."""
        return _to_json(self)

    @classmethod
    def from_json(cls, data) -> RunRecord:
        """A record read back (module docstring); RecordError if it is not a schema-1 run record."""
        if not isinstance(data, dict):
            raise RecordError("not a run summary (no task/model)")
        schema = data.get("schema", SCHEMA)
        if schema != SCHEMA:
            raise RecordError(f"a schema-{schema} run record (this version reads schema {SCHEMA})")
        if not isinstance(data.get("task"), dict) or not isinstance(data.get("model"), dict):
            raise RecordError("not a run summary (no task/model)")
        return _from_json(cls, data)


@dataclass(frozen=True, kw_only=True)
class CurveRow:
    """curve.jsonl: one row per validation point."""
    step: int
    sequences: int
    wall_s: float                      # since training started, validation included
    train_bits: float                  # mean training cost (bits per sequence) since the previous row
    lr: Optional[float] = _absent(None)  # the learning rate of the last update (schedule included)
    val_bits: float = _absent(None)    # metrics on held-out sequences of the training range
    val_bit_errors: float = _absent(None)
    val_bit_accuracy: float = _absent(None)
    val_seq_accuracy: float = _absent(None)

    def to_json(self) -> dict:
        return _to_json(self)

    @classmethod
    def from_json(cls, data) -> CurveRow:
        """A row read back (a key added later reads as null); RecordError if it is not an object."""
        if not isinstance(data, dict):
            raise RecordError("not a JSON object")
        return _from_json(cls, data)


# Nested records by the field that holds them; `eval` holds a list of them.
_NESTED = {(RunRecord, "task"): TaskRecord, (RunRecord, "model"): ModelRecord,
           (RunRecord, "training"): TrainingRecord, (RunRecord, "eval"): EvalRow,
           (RunRecord, "fingerprints"): Fingerprints}
_LISTS = {(RunRecord, "eval")}


def _to_json(obj) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: _to_json(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                if not (f.metadata.get("omit_if_none") and getattr(obj, f.name) is None)}
    if isinstance(obj, (list, tuple)):
        return [_to_json(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _to_json(v) for k, v in obj.items()}
    return obj


def _from_json(cls, data: dict):
    """Fill `cls` from `data`: absent keys read as their `absent` default (else null); a nested
    record that is not an object reads as null (a list keeps its objects only)."""
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            value = data[f.name]
        else:
            default = f.metadata.get("absent")
            value = type(default)(default) if isinstance(default, (dict, list)) else default
        nested = _NESTED.get((cls, f.name))
        if nested is not None and (cls, f.name) in _LISTS:
            value = [_from_json(nested, v) for v in value if isinstance(v, dict)] if isinstance(value, list) else []
        elif nested is not None:
            value = _from_json(nested, value) if isinstance(value, dict) else None
        kwargs[f.name] = value
    return cls(**kwargs)


def record_classes() -> list[type]:
    """Every dataclass of the schema (for the docs test)."""
    return [RunRecord, TaskRecord, ModelRecord, TrainingRecord, EvalRow, Fingerprints, CurveRow]
