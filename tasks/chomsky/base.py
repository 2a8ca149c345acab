"""What the Chomsky-hierarchy tasks share (Delétang et al. 2023): strings of symbols in, symbols out.

Each task maps an input string over a small alphabet to an output string (one symbol for the
classification tasks). A task defines `vocabulary` (input symbols), `classes` (output symbols),
`draw_string(n, rng)` (a random input of length n; by default uniform symbols) and `answer(string)` (the output, a pure function
of the input); this base class lays both out as one batch, the way the benchmark feeds its models
(its `make_model_with_empty_targets`): the input string, then `output_length` steps that carry an
"empty" symbol and on which the model writes the output.

length: n, the length of the input string (the benchmark's "length"). T = n + output_length(n).
Input channels: one-hot input symbol (`vocabulary`), then the empty-output symbol (input size
vocabulary + 1). Output channels: one logit per output symbol (`classes`; output_kind
"categorical": softmax cross-entropy, accuracy by argmax). Targets are one-hot on the scored steps.

Scored steps: the whole answer. Tasks whose answer is shorter than its output tape (binary addition,
binary multiplication, stack manipulation) end it with a termination symbol and pad the rest of the
tape with 0; as in the benchmark's accuracy mask, the padding after the termination symbol is not
scored. The benchmark's training loss covers that padding too; here loss and accuracy share the
scored steps (the padding carries no information about the input).

Examples (parity check, vocabulary {0, 1}, classes {0, 1}; E = the empty-output symbol):
    step      0  1  2  3
    input     1  0  1  E
    target    .  .  .  0      (two 1s: even)
    mask      F  F  F  T

Sampling: one `random.Random` per batch, seeded from the harness's torch.Generator (the tasks need
Python's big integers and short per-string loops), so a batch is a pure function of the generator.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from ntm_bench.errors import BenchError
from tasks.base import Batch, Point, Task, as_tuple

# Delétang et al. 2023, §4: train on lengths U{1..40}, test on every length 41..500. The default
# test points are every 10th unseen length (41, 51, ..., 491), selected by value; suites may list
# the whole range (chomsky-full).
TRAIN_LENGTHS = (1, 40)
UNSEEN_EVERY_10 = tuple(range(41, 501, 10))


@dataclass(frozen=True)
class ChomskyTask(Task):
    output_kind: ClassVar[str] = "categorical"
    # A bidirectional model may run (the benchmark's Transformer is an encoder): the output tape's
    # inputs are all "empty" and its length depends only on the input's length, so no later input
    # says anything about a target that the whole input does not.
    noncausal_leak: ClassVar[str | None] = None
    level: ClassVar[str] = ""  # "regular", "dcf" (deterministic context-free), "cs" (context-sensitive)
    axes: ClassVar[tuple[str, ...]] = ("length",)
    default_train: ClassVar[dict] = {"length": TRAIN_LENGTHS}
    default_test: ClassVar[tuple] = UNSEEN_EVERY_10

    # -- what each task defines ------------------------------------------------------------
    @property
    def vocabulary(self) -> int:
        raise NotImplementedError

    @property
    def classes(self) -> int:
        raise NotImplementedError

    def input_length(self, n: int) -> int:
        """Length of the input string drawn for length n (n, except where a task needs odd lengths)."""
        return n

    def output_length(self, m: int) -> int:
        """Length of the output tape for an input string of length m (1: a classification task)."""
        return 1

    def require_at_least_two(self, field: str) -> None:
        """A size parameter (modulus, cycle length, alphabet) below 2 leaves nothing to learn."""
        value = getattr(self, field)
        if value < 2:
            raise BenchError(f"task {self.name!r}: {field} must be at least 2, got {value!r}")

    def draw_string(self, n: int, rng: random.Random) -> list[int]:
        """A random input of length n; by default each symbol uniform over the vocabulary."""
        return [rng.randrange(self.vocabulary) for _ in range(n)]

    def answer(self, string: list[int]) -> list[int]:
        raise NotImplementedError

    # -- the task contract -----------------------------------------------------------------
    @property
    def input_size(self) -> int:
        return self.vocabulary + 1  # + the empty-output symbol

    @property
    def output_size(self) -> int:
        return self.classes

    def sequence_length(self, point: Point) -> int:
        (n,) = as_tuple(point)
        m = self.input_length(n)
        return m + self.output_length(m)

    def draw(self, batch_size: int, length, generator: torch.Generator) -> dict:
        points = self.points(batch_size, length)
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        rng = random.Random(seed)
        return {"strings": [self.draw_string(p[0], rng) for p in points]}

    def encode(self, strings: list[list[int]]) -> Batch:
        """Lay out explicit input strings (any mix of lengths) with their answers."""
        B, V = len(strings), self.vocabulary
        answers = [self.answer(list(s)) for s in strings]
        tapes = [self.output_length(len(s)) for s in strings]
        T = max(len(s) + o for s, o in zip(strings, tapes))
        x = torch.full((B, T), -1, dtype=torch.long)  # input symbol per step, -1 = padding
        y = torch.zeros((B, T), dtype=torch.long)
        mask = torch.zeros((B, T), dtype=torch.bool)
        valid = torch.zeros((B, T), dtype=torch.bool)
        for b, (s, a, o) in enumerate(zip(strings, answers, tapes)):
            m = len(s)
            if not all(0 <= v < V for v in s) or not all(0 <= v < self.classes for v in a) or len(a) > o:
                raise ValueError(f"task {self.name!r}: bad string {s} or answer {a}")
            x[b, :m] = torch.tensor(s, dtype=torch.long)
            x[b, m:m + o] = V  # the empty-output symbol
            y[b, m:m + len(a)] = torch.tensor(a, dtype=torch.long)
            mask[b, m:m + len(a)] = True
            valid[b, :m + o] = True
        inputs = F.one_hot(x.clamp_min(0), V + 1).float() * (x >= 0).unsqueeze(-1)
        targets = F.one_hot(y, self.classes).float() * mask.unsqueeze(-1)
        return Batch(inputs, targets, mask, valid)


def bits_of(value: int, width: int = 0, little_endian: bool = True) -> list[int]:
    """Binary digits of value, zero-filled to `width` (no leading zeros beyond it; 0 -> [0])."""
    digits = [int(c) for c in format(value, "b").zfill(width)]
    return digits[::-1] if little_endian else digits


def value_of(digits: list[int], little_endian: bool = True) -> int:
    seq = digits if little_endian else digits[::-1]
    return sum(d << i for i, d in enumerate(seq))


@dataclass(frozen=True)
class ModularTask(ChomskyTask):
    """The mod-`modulus` arithmetic tasks (modular_arithmetic, modular_arithmetic_brackets,
    solve_equation): digits 0..modulus-1 first in the vocabulary, the answer one residue."""

    modulus: int = 5  # Delétang et al. 2023: arithmetic mod 5

    def __post_init__(self):
        self.require_at_least_two("modulus")

    @property
    def classes(self) -> int:
        return self.modulus
