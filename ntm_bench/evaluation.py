"""Evaluation: metrics over batches, the test rows of a trained model, and one sequence's attention.

`evaluate` is used on the validation batches during training (which pick the checkpoint) and on the
test batches after it; `test_rows` gives one run_record.EvalRow per test point, lengths beyond the
training range included, enlarging a memory model's memory where a point needs more rows
(`memory_for`); `attention` records one test sequence's per-head weightings for models with a
`trace` method (the memory pictures and fingerprints of the report).
"""
from __future__ import annotations

import contextlib
import dataclasses

import torch

from ntm_bench.config import EvalConfig
from ntm_bench.contract import check_trace
from ntm_bench.data import test_batches, to_device
from ntm_bench.errors import BenchError
from ntm_bench.metrics import call_model, output_kind, takes_valid
from ntm_bench.records import atomic_torch_save
from ntm_bench.run_record import EvalRow, Fingerprints


def check_output(logits, batch, label):
    """The model contract: logits (B, T, outputs), a floating tensor on any device."""
    if not isinstance(logits, torch.Tensor):
        raise BenchError(f"model {label!r} returned {type(logits).__name__}, expected a tensor of logits "
                         f"(batch, time, outputs)")
    want = (*batch.targets.shape,)
    if tuple(logits.shape) != want:
        raise BenchError(f"model {label!r} returned logits of shape {tuple(logits.shape)}, expected {want} "
                         f"(batch, time, outputs)")
    if not logits.is_floating_point():
        raise BenchError(f"model {label!r} returned logits of dtype {logits.dtype}, expected a float dtype")


@torch.no_grad()
def evaluate(model, batches, task, device, with_reference: bool = True) -> dict:
    """Mean of each per-sequence metric over the batches (+ excess over the task's reference)."""
    was_training = model.training
    model.eval()
    kind = output_kind(task)  # bits or categorical: which loss and metrics (ntm_bench.metrics)
    sums = {k: 0.0 for k in kind.names}
    excess, n = 0.0, 0
    has_ref = False
    for batch in batches:
        b = to_device(batch, device)
        logits = call_model(model, b.inputs, b.valid)
        check_output(logits, b, getattr(model, "registry_name", type(model).__name__))
        m = kind.metrics(logits, b.targets, b.mask)
        for k in kind.names:
            sums[k] += m[k].sum().item()
        if with_reference:
            ref = task.reference_bits(batch)
            if ref is not None:
                has_ref = True
                excess += (m["bits"] - ref.double()).sum().item()
        n += batch.inputs.shape[0]
    model.train(was_training)
    out = {k: v / n for k, v in sums.items()}
    out["excess_bits"] = excess / n if has_ref else None
    out["n"] = n
    return out


VALIDATION_ORDER = {"bit_errors": ("val_bit_errors", "val_bits"), "bits": ("val_bits", "val_bit_errors")}


def better(a: dict, b: dict | None, by: str = "bit_errors") -> bool:
    """Validation order (train.select_by): fewer bit errors then fewer bits, or by="bits" the reverse."""
    if b is None:
        return True
    keys = VALIDATION_ORDER[by]
    return tuple(a[k] for k in keys) < tuple(b[k] for k in keys)


def unseen(task, train_range: dict, point: tuple) -> bool:
    """True when any axis of the point lies beyond the training range."""
    return any(v > train_range[a][1] for a, v in zip(task.axes, point))


def _one(point: tuple):
    """A point as the task takes it: an int on one-axis tasks, else the tuple."""
    return point[0] if len(point) == 1 else point


@contextlib.contextmanager
def memory_for(model, task, e: EvalConfig, point: tuple):
    """Enlarge the model's memory for this test point if it needs more rows; restore after.
    Yields the rows the model has at the point (None for a model without memory)."""
    before = getattr(model, "memory_rows", None)
    if before is None:
        yield None
        return
    need = task.memory_rows_needed(_one(point))
    if need > before and e.enlarge_memory:
        model.set_memory_rows(need)
    try:
        yield model.memory_rows
    finally:
        if model.memory_rows != before:
            model.set_memory_rows(before)


def test_rows(model, task, spec_task: dict, e: EvalConfig, device) -> list[EvalRow]:
    """One row per test point of the run's task (model in its best state)."""
    rows = []
    for point in spec_task["test"]:
        point = tuple(point)
        with memory_for(model, task, e, point) as rows_used:
            m = evaluate(model, test_batches(task, spec_task, e, point), task, device)
        rows.append(EvalRow(point=list(point), label=task.point_label(_one(point)),
                            axes=dict(zip(task.axes, point)),
                            split="unseen" if unseen(task, spec_task["train_range"], point) else "train",
                            **m, memory_rows=rows_used))
    return rows


def attention(model, task, spec_task: dict, e: EvalConfig, device, run_dir, who: str) -> tuple:
    """(Fingerprints, None) for one test sequence's attention (the first point beyond training, else
    the last point), saved to run_dir/attention.pt; (None, why not) when `trace()` fails, a line
    naming the model; (None, None) when there is none to take."""
    if not e.attention or not hasattr(model, "trace"):
        return None, None
    rng = spec_task["train_range"]
    points = [tuple(p) for p in spec_task["test"]]
    beyond = [p for p in points if unseen(task, rng, p)]
    point = beyond[0] if beyond else points[-1]
    batch = test_batches(task, spec_task, dataclasses.replace(e, sequences=32, batch_size=32), point)[0]
    from ntm_bench.report.fingerprints import fingerprints

    try:  # an optional method: if it fails, the run still counts, and its record says why it has no pictures
        with memory_for(model, task, e, point), torch.no_grad():
            model.eval()
            b = to_device(batch, device)
            out = model.trace(b.inputs, b.valid) if takes_valid(model.trace) else model.trace(b.inputs)
            logits, weights = check_trace(out, b.inputs, task.output_size, who)
        fp = fingerprints({k: v.cpu() for k, v in weights.items()}, batch.valid)
    except Exception as ex:  # noqa: BLE001 - user code: any failure becomes one line in the record
        text = str(ex) if isinstance(ex, BenchError) else f"{who}: trace() raised {type(ex).__name__}: {ex}"
        return None, (text.splitlines() or [type(ex).__name__])[0]
    n = int(batch.valid[0].sum())

    def own(t):  # a copy of the first sequence: torch.save of a view would store the whole batch
        return t[0, :n].detach().cpu().clone()

    att = {"task": spec_task["task"], "label": task.point_label(_one(point)),
           "point": list(point), "axes": list(task.axes),
           "train_max": {a: rng[a][1] for a in task.axes},
           "inputs": own(batch.inputs.float()), "targets": own(batch.targets.float()),
           "outputs": own(output_kind(task).probabilities(logits.float())),  # sigmoid or softmax
           "mask": own(batch.mask), "valid": own(batch.valid),
           "weights": {k: own(v.float()) for k, v in weights.items()}}
    atomic_torch_save(run_dir / "attention.pt", att)
    return Fingerprints(point=att["label"], heads=fp), None
