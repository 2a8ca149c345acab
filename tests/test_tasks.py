"""The sampling contract every registered task keeps (tests/test_task_examples.py has each task's
worked example and its task-specific facts)."""
from __future__ import annotations

import pytest
import torch

from ntm_bench.errors import BenchError
from ntm_bench.registry import get_task, task_names
from tasks.base import as_tuple

torch.set_num_threads(1)

TASKS = task_names()
# Tasks with bit outputs: their targets fill the last steps. The Chomsky tasks' (categorical) scored
# steps end at a termination symbol on some tasks: tests/test_chomsky_tasks.py checks them.
BIT_TASKS = [n for n in TASKS if get_task(n).cls.output_kind == "bits"]

# A few valid points of each task, all different, for mixed batches (small, to keep tests fast).
MIXED = {
    "copy": [3, 1, 5],
    "repeat_copy": [(2, 3), (4, 1), (1, 2)],
    "associative_recall": [2, 5, 3],
    "dynamic_ngrams": [7, 12, 3],
    "priority_sort": [(5, 2), (3, 3), (6, 1)],
}

# Number of scored (target) steps at a point.
SCORED = {
    "copy": lambda L: L,
    "repeat_copy": lambda L, R: L * R + 1,
    "associative_recall": lambda k: 3,
    "dynamic_ngrams": lambda L: L,
    "priority_sort": lambda n, m: m,
}


def make(name):
    return get_task(name).cls()


def mixed_points(name):
    return MIXED.get(name) or list(make(name).default_test[:3])


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def batches_equal(a, b) -> bool:
    return all(x.shape == y.shape and torch.equal(x, y) for x, y in zip(a, b))




# ----------------------------------------------------------------------------------------------
# The contract, for every registered task

def test_the_five_tasks_of_graves_2014_are_registered():
    assert {"copy", "repeat_copy", "associative_recall", "dynamic_ngrams", "priority_sort"} <= set(TASKS)


@pytest.mark.parametrize("name", TASKS)
def test_file_name_registry_key_and_class_name_match(name):
    cls = get_task(name).cls
    assert cls.__module__ in (f"tasks.{name}", f"tasks.chomsky.{name}")  # the Chomsky tasks: a subpackage
    assert cls.__name__ == "".join(part.capitalize() for part in name.split("_"))
    assert cls.version == 1


@pytest.mark.parametrize("name", TASKS)
def test_default_ranges_and_test_points_are_valid_points(name):
    task = make(name)
    assert tuple(task.default_train) == task.axes
    for lo, hi in task.default_train.values():
        assert 1 <= lo <= hi
    task.check_point(tuple(lo for lo, _ in task.default_train.values()))
    task.check_point(tuple(hi for _, hi in task.default_train.values()))
    for p in task.default_test:
        task.check_point(p)
        assert isinstance(task.memory_rows_needed(p), int) and task.memory_rows_needed(p) >= 1


@pytest.mark.parametrize("name", TASKS)
def test_batch_has_the_documented_shapes_and_dtypes(name):
    task, point = make(name), mixed_points(name)[0]
    b = task.sample(4, point, gen())
    T = task.sequence_length(point)
    assert b.inputs.shape == (4, T, task.input_size) and b.inputs.dtype == torch.float32
    assert b.targets.shape == (4, T, task.output_size) and b.targets.dtype == torch.float32
    assert b.mask.shape == (4, T) and b.mask.dtype == torch.bool
    assert b.valid.shape == (4, T) and b.valid.dtype == torch.bool
    assert all(t.device.type == "cpu" for t in b)


@pytest.mark.parametrize("name", BIT_TASKS)
def test_mask_covers_exactly_the_target_steps_at_the_end(name):
    task = make(name)
    for point in mixed_points(name):
        b = task.sample(3, point, gen())
        T, scored = task.sequence_length(point), SCORED[name](*as_tuple(point))
        expected = torch.zeros(T, dtype=torch.bool)
        expected[T - scored:] = True  # the target phase is the last `scored` steps
        assert torch.equal(b.mask, expected.expand(3, T))
        assert b.valid.all()


@pytest.mark.parametrize("name", TASKS)
def test_targets_are_bits_and_zero_off_the_scored_steps(name):
    task, points = make(name), mixed_points(name)
    b = task.sample(len(points), points, gen())
    assert ((b.targets == 0) | (b.targets == 1)).all()
    assert (b.targets[~b.mask] == 0).all()
    assert b.targets[b.mask].sum() > 0  # not all blank


@pytest.mark.parametrize("name", BIT_TASKS)
def test_padding_is_masked_invalid_and_zero_in_a_mixed_batch(name):
    task, points = make(name), mixed_points(name)
    b = task.sample(len(points), points, gen())
    lengths = [task.sequence_length(p) for p in points]
    assert b.inputs.shape[1] == max(lengths)
    for i, T in enumerate(lengths):
        assert b.valid[i, :T].all() and not b.valid[i, T:].any()
        assert not b.mask[i, T:].any()
        assert (b.inputs[i, T:] == 0).all() and (b.targets[i, T:] == 0).all()
        assert b.mask[i].sum() == SCORED[name](*as_tuple(points[i]))


@pytest.mark.parametrize("name", TASKS)
def test_each_sample_of_a_mixed_batch_equals_that_sample_encoded_alone(name):
    task, points = make(name), mixed_points(name)
    content = task.draw(len(points), points, gen(3))
    whole = task.encode(**content)
    assert batches_equal(whole, task.sample(len(points), points, gen(3)))  # sample = encode(draw)
    for i, p in enumerate(points):
        alone = task.encode(**{k: v[i:i + 1] for k, v in content.items()})
        T = task.sequence_length(p)
        assert alone.inputs.shape[1] == T
        assert batches_equal(alone, [x[i:i + 1, :T] for x in whole])


@pytest.mark.parametrize("name", TASKS)
def test_same_seed_gives_the_same_batch(name):
    task, points = make(name), mixed_points(name)
    assert batches_equal(task.sample(3, points, gen(7)), task.sample(3, points, gen(7)))


@pytest.mark.parametrize("name", TASKS)
def test_different_seeds_give_different_batches(name):
    task, point = make(name), mixed_points(name)[0]
    a, b = task.sample(4, point, gen(1)), task.sample(4, point, gen(2))
    assert not torch.equal(a.inputs, b.inputs)


@pytest.mark.parametrize("name", TASKS)
def test_sampling_never_touches_the_global_rng(name):
    torch.manual_seed(0)
    before = torch.get_rng_state()
    make(name).sample(2, mixed_points(name)[0], gen())
    assert torch.equal(torch.get_rng_state(), before)


@pytest.mark.parametrize("name", TASKS)
def test_each_axis_lengthens_the_sequence(name):
    task = make(name)
    base = as_tuple(task.default_test[0])
    for a in range(len(task.axes)):
        bigger = tuple(v + 2 * (j == a) for j, v in enumerate(base))  # 2: modular_arithmetic's lengths are odd
        p0, p1 = (base, bigger) if len(base) > 1 else (base[0], bigger[0])
        assert task.sequence_length(p1) > task.sequence_length(p0)
        b0, b1 = task.sample(1, p0, gen()), task.sample(1, p1, gen())
        assert b0.valid.sum() == task.sequence_length(p0) and b1.valid.sum() == task.sequence_length(p1)
        assert b1.mask.sum() >= b0.mask.sum()


@pytest.mark.parametrize("name", TASKS)
def test_impossible_points_raise_bench_error_naming_the_task(name):
    task = make(name)
    good = as_tuple(task.default_test[0])
    for a, axis in enumerate(task.axes):
        bad = tuple(0 if j == a else v for j, v in enumerate(good))
        with pytest.raises(BenchError, match=f"{name}.*{axis}"):
            task.sample(2, bad if len(bad) > 1 else bad[0], gen())
    with pytest.raises(BenchError, match=name):
        task.check_point(good + (1,))
    with pytest.raises(BenchError, match="batch_size"):
        task.sample(0, task.default_test[0], gen())
