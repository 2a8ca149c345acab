"""The 15 Chomsky-hierarchy tasks (tasks/chomsky/): each docstring's worked example and other
hand-computed answers, the batch layout, determinism given the seed, and the lengths honoured."""
from __future__ import annotations

import math

import pytest
import torch

from ntm_bench import registry
from ntm_bench.errors import BenchError
from ntm_bench.metrics import output_kind

CHOMSKY = ("even_pairs", "modular_arithmetic", "parity_check", "cycle_navigation",
           "stack_manipulation", "reverse_string", "modular_arithmetic_brackets", "solve_equation",
           "duplicate_string", "missing_duplicate_string", "odds_first", "binary_addition",
           "binary_multiplication", "compute_sqrt", "bucket_sort")
LEVELS = {"regular": 4, "dcf": 4, "cs": 7}


def task(name, **args):
    return registry.get_task(name).cls(**args)


def digits(text: str) -> list[int]:
    return [int(c) for c in text.replace(" ", "")]


def test_the_fifteen_tasks_are_registered_as_categorical_at_their_hierarchy_level():
    levels = {}
    for name in CHOMSKY:
        t = task(name)
        assert output_kind(t).name == "categorical"
        assert t.default_train == {"length": (1, 40)}
        levels[t.level] = levels.get(t.level, 0) + 1
    assert levels == LEVELS


# -- worked examples (the docstrings') and other hand-computed answers ---------------------------

@pytest.mark.parametrize("name,string,answer", [
    ("even_pairs", "001110", [0]), ("even_pairs", "0101001", [1]), ("even_pairs", "1", [0]),
    ("parity_check", "1010100", [1]), ("parity_check", "01111", [0]), ("parity_check", "101", [0]),
    ("cycle_navigation", "20100", [3]), ("cycle_navigation", "2220", [2]), ("cycle_navigation", "00000", [0]),
    ("reverse_string", "011010", digits("010110")), ("reverse_string", "1101", digits("1011")),
    ("duplicate_string", "101", digits("101101")), ("duplicate_string", "0", [0, 0]),
    ("missing_duplicate_string", "01100210", [1]), ("missing_duplicate_string", "1011213", [0]),
    ("missing_duplicate_string", "1", [1]), ("missing_duplicate_string", "2101", [0]),
    ("odds_first", "00110101", digits("0100 0111")), ("odds_first", "110", digits("10 1")),
    ("bucket_sort", "10204112", digits("00111224")), ("bucket_sort", "4301", digits("0134")),
    ("compute_sqrt", "100101", digits("110")), ("compute_sqrt", "111", digits("10")),
    ("compute_sqrt", "1", [1]), ("compute_sqrt", "11111111", digits("1111")),  # 255 -> 15
])
def test_the_answer_of_a_string_is_the_hand_computed_one(name, string, answer):
    assert task(name).answer(digits(string)) == answer


def test_modular_arithmetic_binds_multiplication_first_mod_5():
    t = task("modular_arithmetic")
    P, M, X = 5, 6, 7  # + - *
    assert t.answer([1, P, 2, X, 3]) == [2]                      # 1 + 6 = 7
    assert t.answer([1, M, 1, M, 1]) == [4]                      # -1
    assert t.answer([0, X, 1, P, 4, X, 3, M, 2]) == [0]          # 0 + 12 - 2 = 10
    assert t.answer([4, M, 2, X, 3]) == [3]                      # 4 - 6 = -2
    assert t.answer([3]) == [3]


def test_modular_arithmetic_draws_odd_lengths_only():
    t = task("modular_arithmetic")
    assert [t.input_length(n) for n in (1, 2, 3, 4, 41)] == [1, 1, 3, 3, 41]
    assert t.sequence_length(4) == 4
    b = t.sample(5, 6, torch.Generator().manual_seed(0))
    assert b.inputs.shape[1] == 6
    assert b.valid.sum(1).tolist() == [6] * 5  # 5 symbols + the output step


def test_modular_arithmetic_brackets_evaluates_the_worked_examples():
    t = task("modular_arithmetic_brackets")
    s = {c: 5 + i for i, c in enumerate("+-*()")}
    assert t.answer([s["("], 3, s["*"], s["("], s["-"], 4, s[")"], s[")"]]) == [3]        # 3 * -4 = -12
    assert t.answer([s["("], s["("], 1, s["+"], 2, s[")"], s["-"], 4, s[")"]]) == [4]     # (1 + 2) - 4
    assert t.answer([s["-"], 2]) == [3]


def test_solve_equation_finds_the_digit_of_x():
    t = task("solve_equation")
    s = {c: 5 + i for i, c in enumerate("+-()x=")}
    assert t.answer([s["("], s["x"], s["-"], 3, s[")"], s["="], 1]) == [4]
    assert t.answer([s["("], s["("], 2, s["+"], s["x"], s[")"], s["-"], 4, s[")"], s["="], 0]) == [2]
    assert t.answer([0, 0]) == [0]  # the benchmark's placeholder for lengths below 3


def test_stack_manipulation_returns_the_final_stack_top_first_then_end():
    t = task("stack_manipulation")
    POP, P0, P1 = 2, 3, 4
    assert t.answer([0, 1, 1, 0, P1, POP, POP]) == [1, 1, 0, 2]
    assert t.answer([1, 1, 0, POP, POP, POP]) == [2]
    assert t.answer([1, POP, POP, P0, P1]) == [1, 0, 2]  # POP on an empty stack does nothing
    b = t.encode([[0, 1, 1, 0, P1, POP, POP]])
    # output tape of 8 steps after the 7 inputs: 1 1 0 end, then 4 unscored zeros
    assert b.inputs.shape[1] == 15 and b.mask[0].tolist() == [False] * 7 + [True] * 4 + [False] * 4
    assert b.targets[0, 7:11].argmax(-1).tolist() == [1, 1, 0, 2] and b.targets[0, 11:].sum() == 0


@pytest.mark.parametrize("string,answer", [
    ("001 2 01101", "01011 2"),    # 4 + 22 = 26, little-endian
    ("1 2 1", "01 2"),             # 1 + 1 = 2
    ("11 2 11", "011 2"),          # 3 + 3 = 6
    ("10", "1 2"),                 # n <= 2: no operator, the number itself
    ("00", "0 2"),
])
def test_binary_addition_adds_little_endian(string, answer):
    assert task("binary_addition").answer(digits(string)) == digits(answer)


@pytest.mark.parametrize("string,answer", [
    ("001 2 01101", "0001101 2"),  # 4 * 22 = 88
    ("11 2 1", "11 2"),            # 3 * 1 = 3
    ("1001 2 000001", "000001001 2"),  # 9 * 32 = 288
    ("1", "2"), ("01", "0 2"),     # n <= 2: the benchmark's fixed answer
])
def test_binary_multiplication_multiplies_little_endian(string, answer):
    assert task("binary_multiplication").answer(digits(string)) == digits(answer)


def test_a_classification_batch_lays_out_the_string_then_one_output_step():
    t = task("parity_check")
    b = t.encode([[1, 0, 1], [1]])
    assert b.inputs.shape == (2, 4, 3) and b.targets.shape == (2, 4, 2)
    assert b.inputs[0].tolist() == [[0, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]  # 1 0 1 E
    assert b.inputs[1].tolist() == [[0, 1, 0], [0, 0, 1], [0, 0, 0], [0, 0, 0]]  # 1 E, padding
    assert b.mask.tolist() == [[False, False, False, True], [False, True, False, False]]
    assert b.valid.tolist() == [[True] * 4, [True, True, False, False]]
    assert b.targets[0, 3].tolist() == [1, 0] and b.targets[1, 1].tolist() == [0, 1]
    assert b.targets[:, :, :].sum() == 2  # one-hot on the scored steps only


# -- contract: every task, sampled ------------------------------------------------------------

@pytest.mark.parametrize("name", CHOMSKY)
def test_sampling_is_deterministic_given_the_seed_and_honours_the_lengths(name):
    t = task(name)
    lengths = [1, 2, 3, 7, 40]
    a = t.sample(5, lengths, torch.Generator().manual_seed(3))
    b = t.sample(5, lengths, torch.Generator().manual_seed(3))
    c = t.sample(5, lengths, torch.Generator().manual_seed(4))
    for x, y in zip(a, b):
        assert torch.equal(x, y)
    assert any(not torch.equal(x, y) for x, y in zip(a, c))
    assert a.inputs.shape[1] == max(t.sequence_length(n) for n in lengths)
    assert a.valid.sum(1).tolist() == [t.sequence_length(n) for n in lengths]
    for i, n in enumerate(lengths):
        m = t.input_length(n)
        assert a.inputs[i, :m, -1].sum() == 0  # the input string: no empty-output symbol
        out = a.inputs[i, m:t.sequence_length(n), -1]
        assert out.numel() == t.output_length(m) and bool((out == 1).all())
        assert 1 <= int(a.mask[i].sum()) <= t.output_length(m)
        assert not a.mask[i, :m].any()
        string = a.inputs[i, :m, :-1].argmax(-1).tolist()
        assert a.targets[i][a.mask[i]].argmax(-1).tolist() == t.answer(string)  # targets = answer(input)
    assert torch.equal(a.inputs.sum(-1), a.valid.float())  # one symbol per real step, nothing on padding
    assert torch.equal(a.targets.sum(-1), a.mask.float())


@pytest.mark.parametrize("name", CHOMSKY)
def test_a_long_test_length_samples_quickly_and_correctly(name):
    t = task(name)
    b = t.sample(4, 491, torch.Generator().manual_seed(0))
    assert b.valid.sum(1).tolist() == [t.sequence_length(491)] * 4


def test_binary_operands_have_the_benchmark_shape():
    t = task("binary_addition")
    strings = t.draw(200, 9, torch.Generator().manual_seed(0))["strings"]
    for s in strings:
        assert len(s) == 9 and s.count(2) == 1 and 1 <= s.index(2) <= 7
        a, b = s[:s.index(2)], s[s.index(2) + 1:]
        assert any(a) and any(b)  # each number is at least 1
    assert len({s.index(2) for s in strings}) == 7  # every split 1..7 occurs


def test_compute_sqrt_output_length_is_half_the_input_rounded_up():
    t = task("compute_sqrt")
    for n in (1, 2, 5, 40, 41):
        assert t.output_length(n) == math.ceil(n / 2)


def test_an_impossible_length_is_refused_with_the_axis_named():
    for name in ("parity_check", "binary_addition"):
        with pytest.raises(BenchError, match="length must be a positive integer"):
            task(name).sample(2, 0, torch.Generator().manual_seed(0))


def test_a_bad_task_argument_is_refused():
    with pytest.raises(BenchError, match="modulus"):
        task("modular_arithmetic", modulus=1)
    with pytest.raises(BenchError, match="vocab_size"):
        task("bucket_sort", vocab_size=1)
