"""The tasks of Graves 2014 §4: each task's worked example (its docstring's Examples) and the
task-specific facts (recall targets, sort order, the repeat count's encoding, N-gram statistics).
tests/test_tasks.py checks the sampling contract every registered task keeps."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ntm_bench.errors import BenchError
from ntm_bench.registry import get_model
from tasks.associative_recall import AssociativeRecall
from tasks.copy import Copy
from tasks.dynamic_ngrams import DynamicNgrams, NgramOptimal
from tasks.priority_sort import PrioritySort
from tasks.repeat_copy import RepeatCopy
from test_tasks import gen

torch.set_num_threads(1)


def bits(s: str) -> list[float]:
    return [float(c) for c in s]


# ----------------------------------------------------------------------------------------------
# Worked examples (the docstrings' Examples)

def test_copy_worked_example():
    a, b = bits("10110000"), bits("01000001")
    batch = Copy().encode(torch.tensor([[a, b]]))
    z = [0.0] * 8
    assert torch.equal(batch.inputs[0], torch.tensor([a + [0], b + [0], z + [1], z + [0], z + [0]]))
    assert torch.equal(batch.targets[0], torch.tensor([z, z, z, a, b]))
    assert batch.mask[0].tolist() == [False, False, False, True, True]
    assert batch.valid[0].all()


def test_repeat_copy_worked_example():
    a, b = bits("10110000"), bits("01000001")
    batch = RepeatCopy().encode(torch.tensor([[a, b]]), repeats=2)
    z, c = [0.0] * 8, (2 - 5.5) / math.sqrt(8.25)
    assert torch.allclose(batch.inputs[0], torch.tensor([a + [0], b + [0], z + [c]] + [z + [0]] * 5))
    assert torch.equal(batch.targets[0], torch.tensor([z + [0]] * 3 + [a + [0], b + [0], a + [0], b + [0], z + [1]]))
    assert batch.mask[0].tolist() == [False] * 3 + [True] * 5


def test_repeat_count_is_normalised_to_mean_zero_and_variance_one_over_the_training_range():
    counts = RepeatCopy().normalised_repeats(torch.arange(1, 11))
    assert counts.mean().abs() < 1e-6
    assert abs(counts.var(unbiased=False).item() - 1) < 1e-6


def test_associative_recall_worked_example():
    vec = torch.arange(9 * 6).reshape(3, 3, 6).remainder(2).float()  # items A, B, C
    vec[1, 0] = 1 - vec[1, 0]  # make the three items differ
    batch = AssociativeRecall().encode(vec[None], query=1)  # query B (0-based 1) -> C
    d, q, z = [0.0] * 6 + [1, 0], [0.0] * 6 + [0, 1], [0.0] * 8
    item = lambda j: [vec[j, r].tolist() + [0, 0] for r in range(3)]  # noqa: E731
    expected = [d] + item(0) + [d] + item(1) + [d] + item(2) + [q] + item(1) + [q] + [z] * 3
    assert torch.equal(batch.inputs[0], torch.tensor(expected))
    assert torch.equal(batch.targets[0, 17:], vec[2])
    assert (batch.targets[0, :17] == 0).all()
    assert batch.mask[0].tolist() == [False] * 17 + [True] * 3


def test_dynamic_ngrams_worked_example():
    batch = DynamicNgrams().encode(torch.tensor([[1.0, 0, 1, 1]]))
    assert batch.inputs[0].tolist() == [[0, 1], [1, 0], [0, 0], [1, 0]]
    assert batch.targets[0, :, 0].tolist() == [1, 0, 1, 1]
    assert batch.mask[0].all() and batch.valid[0].all()


def test_optimal_ngram_cost_worked_example_on_seven_zeros():
    task = DynamicNgrams()
    cost = task.reference_bits(task.encode(torch.zeros(1, 7)))
    assert cost.item() == pytest.approx(6 - math.log2(3 / 4), abs=1e-5)


def test_priority_sort_worked_example():
    a, b, c = bits("10110000"), bits("01000001"), bits("11100111")
    batch = PrioritySort().encode(torch.tensor([[a, b, c]]), torch.tensor([[0.1, 0.9, -0.5]]), outputs=2)
    z = [0.0] * 8
    expected_in = [a + [0.1, 0], b + [0.9, 0], c + [-0.5, 0], z + [0, 1], z + [0, 0], z + [0, 0]]
    assert torch.allclose(batch.inputs[0], torch.tensor(expected_in))
    assert torch.equal(batch.targets[0], torch.tensor([z, z, z, z, b, a]))
    assert batch.mask[0].tolist() == [False] * 4 + [True] * 2


# ----------------------------------------------------------------------------------------------
# Associative recall

def decode_recall(inputs: torch.Tensor, v: int = 3, w: int = 6):
    """(items (k, v, w), query item (v, w)) read back from one sequence's inputs."""
    starts = torch.nonzero(inputs[:, w] == 1)[:, 0]
    items = torch.stack([inputs[s + 1:s + 1 + v, :w] for s in starts])
    q = torch.nonzero(inputs[:, w + 1] == 1)[0, 0]
    return items, inputs[q + 1:q + 1 + v, :w]


def test_associative_recall_target_is_the_item_after_the_query_item():
    task, points = AssociativeRecall(), [2, 3, 6, 10, 20] * 8
    b = task.sample(len(points), points, gen())
    for i, k in enumerate(points):
        items, query = decode_recall(b.inputs[i])
        assert len(items) == k
        j = [torch.equal(it, query) for it in items].index(True)
        assert j < k - 1  # the query always has a successor
        assert torch.equal(b.targets[i][b.mask[i]], items[j + 1])


def test_associative_recall_trains_on_2_to_6_items_inclusive():
    task = AssociativeRecall()
    assert task.default_train == {"items": (2, 6)}
    b = task.sample(5, [2, 3, 4, 5, 6], gen())
    assert (b.inputs[..., 6] == 1).sum(1).tolist() == [2, 3, 4, 5, 6]  # one item delimiter per item


def test_associative_recall_queries_are_uniform_over_items_with_a_successor():
    queries = AssociativeRecall().draw(3000, 4, gen())["query"]
    counts = torch.bincount(queries, minlength=4)
    assert counts[3] == 0
    assert ((counts[:3] - 1000).abs() < 100).all()


def test_associative_recall_items_are_distinct_even_when_collisions_are_likely():
    task = AssociativeRecall(bits=1, item_vectors=2)  # only 4 possible items
    items = task.draw(200, 4, gen())["items"].reshape(200, 4, 2)
    codes = items[..., 0] * 2 + items[..., 1]  # (B, 4) in 0..3
    assert (codes.sort(1).values == torch.arange(4.0)).all()  # every sequence is a permutation


def test_associative_recall_rejects_one_item_and_more_items_than_exist():
    with pytest.raises(BenchError, match="associative_recall.*items must be at least 2"):
        AssociativeRecall().check_point(1)
    with pytest.raises(BenchError, match="associative_recall.*between 2 and 4"):
        AssociativeRecall(bits=1, item_vectors=2).check_point(5)


# ----------------------------------------------------------------------------------------------
# Priority sort

def test_priority_sort_orders_whole_vectors_by_priority_highest_first():
    task, points = PrioritySort(), [(20, 16), (30, 24), (5, 5), (7, 1)] * 4
    b = task.sample(len(points), points, gen())
    for i, (n, m) in enumerate(points):
        vectors, priorities = b.inputs[i, :n, :8], b.inputs[i, :n, 8]
        order = priorities.argsort(descending=True)
        assert torch.equal(b.targets[i][b.mask[i]], vectors[order[:m]])
        assert ((priorities >= -1) & (priorities <= 1)).all()
        assert b.inputs[i, n, 9] == 1 and (b.inputs[i, :, 9].sum() == 1)


def test_priority_sort_rejects_more_outputs_than_vectors():
    with pytest.raises(BenchError, match="priority_sort.*outputs must be between 1 and vectors \\(20\\)"):
        PrioritySort().sample(2, (20, 21), gen())


# ----------------------------------------------------------------------------------------------
# Repeat copy

def test_repeat_copy_normalises_an_even_training_range_to_mean_0_and_variance_1():
    for lo, hi in [(1, 10), (1, 6), (3, 4), (2, 9)]:
        code = RepeatCopy(train_repeats=(lo, hi)).normalised_repeats(torch.arange(lo, hi + 1)).double()
        torch.testing.assert_close(code.mean(), torch.tensor(0.0, dtype=torch.float64), atol=1e-6, rtol=0)
        torch.testing.assert_close(code.var(unbiased=False), torch.tensor(1.0, dtype=torch.float64), atol=1e-6, rtol=0)


def test_repeat_copy_never_encodes_a_count_as_zero_even_for_an_odd_training_range():
    # The middle of an odd range would encode as 0, a blank step: such a range is normalised as lo..hi+1.
    for lo, hi in [(1, 9), (5, 5), (1, 3), (2, 6)]:
        task = RepeatCopy(train_repeats=(lo, hi))
        code = task.normalised_repeats(torch.arange(1, 3 * hi + 1))
        assert (code != 0).all()
        torch.testing.assert_close(code, RepeatCopy(train_repeats=(lo, hi + 1)).normalised_repeats(torch.arange(1, 3 * hi + 1)))
    # the class docstring's example: trained on 1..3 (as 1..4: mean 2.5, sd sqrt(15/12)), R = 2 reads -0.4472
    two = RepeatCopy(train_repeats=(1, 3)).encode(torch.zeros(1, 2, 8), 2).inputs[0, 2, 8]
    assert round(float(two), 4) == -0.4472


def test_repeat_copy_takes_its_count_normalisation_from_the_training_range():
    smoke = RepeatCopy().for_training_range({"length": (1, 3), "repeats": (1, 3)})
    assert smoke.train_repeats == (1, 3)
    assert RepeatCopy().train_repeats is None  # on its own: the paper's 1..10
    torch.testing.assert_close(RepeatCopy().normalised_repeats(torch.tensor([2])),
                               RepeatCopy(train_repeats=(1, 10)).normalised_repeats(torch.tensor([2])))
    # written out, it must equal the training range: an override of the range alone is not taken silently
    same = RepeatCopy(train_repeats=(1, 6))
    assert same.for_training_range({"length": (1, 5), "repeats": (1, 6)}) == same
    with pytest.raises(BenchError, match=r"repeat_copy.*train_repeats \[1, 6\] differs from the training range "
                                         r"of repeats \[1, 3\]"):
        same.for_training_range({"length": (1, 5), "repeats": (1, 3)})


def test_repeat_copy_rejects_a_normalisation_range_that_is_not_lo_to_hi():
    for bad in [(0, 3), (5, 4), (1, 2, 3)]:
        with pytest.raises(BenchError, match="repeat_copy.*train_repeats must be \\[lo, hi\\]"):
            RepeatCopy(train_repeats=bad)


def test_repeat_copy_target_is_the_input_sequence_repeated_then_the_end_marker():
    task, points = RepeatCopy(), [(3, 4), (1, 1), (5, 2)]
    b = task.sample(3, points, gen())
    for i, (L, R) in enumerate(points):
        seq = b.inputs[i, :L, :8]
        out = b.targets[i][b.mask[i]]
        assert torch.equal(out[:-1, :8], seq.repeat(R, 1)) and (out[:-1, 8] == 0).all()
        assert out[-1].tolist() == [0.0] * 8 + [1.0]


def test_repeat_copy_delimiter_adds_a_flag_on_the_count_step_and_changes_nothing_else():
    plain, flagged = RepeatCopy(), RepeatCopy(delimiter=True)
    assert (plain.input_size, flagged.input_size) == (9, 10)
    points = [(3, 4), (1, 1), (5, 2)]
    a, b = plain.sample(3, points, gen(5)), flagged.sample(3, points, gen(5))
    for name in ("targets", "mask", "valid"):
        assert torch.equal(getattr(a, name), getattr(b, name))
    assert torch.equal(b.inputs[..., [*range(8), 9]], a.inputs)  # the data bits and the count, as before
    flag = b.inputs[..., 8]
    for i, (L, _) in enumerate(points):
        assert flag[i].nonzero().flatten().tolist() == [L]  # 1 on the count step, 0 everywhere else
    assert flag.sum() == 3


# ----------------------------------------------------------------------------------------------
# Dynamic N-grams and the optimal predictor

def test_ngram_tables_follow_the_beta_half_half_prior():
    p = DynamicNgrams().draw_tables(1000, gen())  # (1000, 32)
    assert p.shape == (1000, 32)
    assert abs(p.mean().item() - 0.5) < 0.01
    assert abs(p.var().item() - 1 / 8) < 0.005  # Beta(1/2, 1/2): variance 1/8
    extreme = ((p < 0.1) | (p > 0.9)).float().mean().item()
    assert abs(extreme - 4 / math.pi * math.asin(math.sqrt(0.1))) < 0.02  # arcsine law: ~0.41


def test_ngram_bits_follow_their_table():
    task = DynamicNgrams()
    tables = task.draw_tables(200, gen(1))
    b = task.draw_bits(tables, 300, gen(2))  # (200, 300)
    assert ((b == 0) | (b == 1)).all()
    ctx = b.unfold(1, 5, 1)[:, :-1] @ torch.tensor([16.0, 8, 4, 2, 1])  # (B, 295): context of bit t >= 5
    p = tables.gather(1, ctx.long())  # (B, 295)
    ones, expected = b[:, 5:].sum().item(), p.sum().item()
    assert abs(ones - expected) < 4 * math.sqrt((p * (1 - p)).sum().item())
    first = b[:, :5].mean().item()  # the first five bits are fair coins
    assert abs(first - 0.5) < 0.05


def test_optimal_ngram_predictor_costs_about_133_bits_per_200_bit_sequence():
    task = DynamicNgrams()
    cost = task.reference_bits(task.sample(2000, 200, gen()))
    assert cost.shape == (2000,)
    assert abs(cost.mean().item() - 133) < 2


def test_ngram_optimal_model_bce_equals_reference_bits():
    task = DynamicNgrams()
    model = get_model("ngram_optimal").build(task.input_size, task.output_size)
    assert isinstance(model, NgramOptimal) and not list(model.parameters())
    b = task.sample(6, [200, 37, 5, 120, 1, 64], gen())
    logits = model(b.inputs, b.valid)
    assert logits.shape == (6, 200, 1)
    bce = F.binary_cross_entropy_with_logits(logits, b.targets, reduction="none")[..., 0]
    bits_per_seq = (bce * b.mask).sum(1) / math.log(2)
    assert torch.allclose(bits_per_seq, task.reference_bits(b), atol=1e-4)
    assert torch.allclose(task.reference_bits(b)[[2, 4]], torch.tensor([5.0, 1.0]))  # first 5 bits: 1 each


def test_ngram_optimal_model_sees_only_the_past():
    task, model = DynamicNgrams(), NgramOptimal(2, 1)
    b = task.sample(4, 50, gen())
    changed = b.inputs.clone()
    changed[:, 30:, 0] = 1 - changed[:, 30:, 0]
    before, after = model(b.inputs), model(changed)
    assert torch.equal(before[:, :30], after[:, :30])
    assert not torch.equal(before[:, 30:], after[:, 30:])


def test_ngram_optimal_model_is_registered_as_a_reference_for_dynamic_ngrams_only():
    entry = get_model("ngram_optimal")
    assert entry.reference and entry.tasks == ("dynamic_ngrams",)
    with pytest.raises(BenchError, match="ngram_optimal"):
        entry.build(9, 8)
