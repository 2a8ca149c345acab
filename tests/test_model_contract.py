"""The contract every registered model keeps, on every task it can run.

Parametrized over `model_names()` x the model's compatible registered tasks. Each model is built
with its "tiny" preset for the task (preset key "tiny", then the task name or "*") when it has
one, else with its defaults. Until tasks are registered, a stand-in copy-like task (defined here,
not registered) keeps the contract exercised for models that accept every task.

A plugin's models and tasks join in when named (paths separated by the OS path separator):
    NTM_BENCH_PLUGINS=my_model.py python -m pytest tests/test_model_contract.py
"""
from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch
import torch.nn.functional as F

from ntm_bench.registry import get_model, get_task, load_plugin, model_names, task_names
from tasks.base import Batch, Task, per_sample, random_bits

torch.set_num_threads(1)
for _plugin in filter(None, os.environ.get("NTM_BENCH_PLUGINS", "").split(os.pathsep)):
    load_plugin(_plugin)


@dataclass(frozen=True)
class StandIn(Task):
    """Copy-like: L random 2-bit vectors, a delimiter on channel 2, then the L vectors back.

    Examples: length 2 -> inputs [a, b, |, _, _], targets [_, _, _, a, b]."""
    name: ClassVar[str] = "standin"
    default_train: ClassVar[dict] = {"length": (1, 5)}
    default_test: ClassVar[tuple] = (8, 12)

    @property
    def input_size(self) -> int:
        return 3

    @property
    def output_size(self) -> int:
        return 2

    def sequence_length(self, point) -> int:
        return 2 * per_sample(point, 1)[0][0] + 1

    def sample(self, batch_size, length, generator) -> Batch:
        lengths = [p[0] for p in per_sample(length, batch_size)]
        T = 2 * max(lengths) + 1
        x, y = torch.zeros(batch_size, T, 3), torch.zeros(batch_size, T, 2)
        mask, valid = torch.zeros(batch_size, T, dtype=torch.bool), torch.zeros(batch_size, T, dtype=torch.bool)
        for b, L in enumerate(lengths):
            bits = random_bits((L, 2), generator)
            x[b, :L, :2], x[b, L, 2] = bits, 1.0
            y[b, L + 1:2 * L + 1] = bits
            mask[b, L + 1:2 * L + 1] = True
            valid[b, :2 * L + 1] = True
        return Batch(x, y, mask, valid)


def _tasks() -> dict[str, Task]:
    registered = {name: get_task(name).cls() for name in task_names()}
    return registered or {"standin": StandIn()}


def _cases() -> list:
    tasks = _tasks()
    cases = []
    for model in model_names():
        allowed = get_model(model).tasks
        for task in sorted(tasks):
            if allowed is None or task in allowed:
                cases.append(pytest.param(model, task, id=f"{model}-{task}"))
    return cases


CASES = _cases()
TASKS = _tasks()


def _point(values: tuple):
    return values[0] if len(values) == 1 else tuple(values)


def _train_point(task: Task, where: str):
    """The lowest, middle or highest point of the training range."""
    pick = {"lo": lambda lo, hi: lo, "mid": lambda lo, hi: (lo + hi) // 2, "hi": lambda lo, hi: hi}[where]
    return _point(tuple(pick(*task.default_train[a]) for a in task.axes))


def _longest_point(task: Task):
    """The task's longest test point (beyond training), or the top of its range for fixed-size tasks."""
    points = list(task.default_test) or [_train_point(task, "hi")]
    return max(points, key=task.sequence_length)


def _build(model_name: str, task: Task, task_name: str, seed: int = 0):
    entry = get_model(model_name)
    tiny = entry.presets.get("tiny", {})
    spec = tiny.get(task_name, tiny.get("*", {}))
    torch.manual_seed(seed)
    model = entry.build(task.input_size, task.output_size, dict(spec.get("options", {})))
    return model.eval()


def _fit_memory(model, task: Task, point) -> None:
    """As the harness does: enlarge a model's memory for long test sequences where it can."""
    need = task.memory_rows_needed(point)
    if hasattr(model, "set_memory_rows") and getattr(model, "memory_rows", need) < need:
        model.set_memory_rows(need)


def _call(model, x, valid):
    if "valid" in inspect.signature(model.forward).parameters:
        return model(x, valid=valid)
    return model(x)


def _sample(task: Task, points: list, seed: int) -> Batch:
    return task.sample(len(points), list(points), torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("model_name,task_name", CASES)
def test_output_has_one_finite_logit_per_step_and_bit_beyond_the_training_lengths(model_name, task_name):
    task = TASKS[task_name]
    point = _longest_point(task)
    model = _build(model_name, task, task_name)
    _fit_memory(model, task, point)
    batch = _sample(task, [point, point], seed=0)
    with torch.no_grad():
        y = _call(model, batch.inputs, batch.valid)
    B, T, _ = batch.inputs.shape
    assert y.shape == (B, T, task.output_size)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("model_name,task_name", CASES)
def test_gradients_reach_every_trainable_parameter(model_name, task_name):
    task = TASKS[task_name]
    model = _build(model_name, task, task_name).train()
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    if not params:
        pytest.skip(f"{model_name} has no trainable parameters")
    batch = _sample(task, [_train_point(task, "hi"), _train_point(task, "mid")], seed=0)
    y = _call(model, batch.inputs, batch.valid)
    loss = F.binary_cross_entropy_with_logits(y[batch.mask], batch.targets[batch.mask])
    loss.backward()
    missing = [n for n, p in params.items() if p.grad is None]
    bad = [n for n, p in params.items() if p.grad is not None and not torch.isfinite(p.grad).all()]
    zero = [n for n, p in params.items() if p.grad is not None and not p.grad.abs().sum() > 0]
    assert (missing, bad, zero) == ([], [], [])


@pytest.mark.parametrize("model_name,task_name", CASES)
def test_a_samples_output_does_not_depend_on_the_other_samples_in_the_batch(model_name, task_name):
    task = TASKS[task_name]
    longest = _longest_point(task)
    model = _build(model_name, task, task_name)
    _fit_memory(model, task, longest)
    batch = _sample(task, [longest, _train_point(task, "lo"), _train_point(task, "mid")], seed=0)
    # Replace sample 1 by another sequence, of another length where the task allows it.
    other = _sample(task, [_train_point(task, "hi")], seed=1)
    x, valid = batch.inputs.clone(), batch.valid.clone()
    t = other.inputs.shape[1]
    x[1], valid[1] = 0.0, False
    x[1, :t], valid[1, :t] = other.inputs[0], other.valid[0]
    assert not torch.equal(x, batch.inputs)
    with torch.no_grad():
        before = _call(model, batch.inputs, batch.valid)
        after = _call(model, x, valid)
    for i in (0, 2):
        steps = batch.valid[i]
        torch.testing.assert_close(after[i][steps], before[i][steps], atol=1e-5, rtol=0)


@pytest.mark.parametrize("model_name,task_name", CASES)
def test_the_same_seed_gives_the_same_parameters_and_the_same_output(model_name, task_name):
    task = TASKS[task_name]
    a = _build(model_name, task, task_name, seed=0)
    b = _build(model_name, task, task_name, seed=0)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    batch = _sample(task, [_train_point(task, "mid")] * 2, seed=0)
    with torch.no_grad():
        ya = _call(a, batch.inputs, batch.valid)
        yb = _call(b, batch.inputs, batch.valid)
        ya_again = _call(a, batch.inputs, batch.valid)  # no state carried from one call to the next
    assert torch.equal(ya, yb)
    assert torch.equal(ya, ya_again)


@pytest.mark.parametrize("model_name,task_name", CASES)
def test_output_dtype_follows_the_module_in_float64(model_name, task_name):
    task = TASKS[task_name]
    model = _build(model_name, task, task_name)
    batch = _sample(task, [_train_point(task, "mid")] * 2, seed=0)
    with torch.no_grad():
        y32 = _call(model, batch.inputs, batch.valid)
        model.double()
        y64 = _call(model, batch.inputs.double(), batch.valid)
    assert y64.dtype == torch.float64
    assert torch.isfinite(y64).all()
    torch.testing.assert_close(y64.float(), y32, atol=1e-3, rtol=1e-3)
