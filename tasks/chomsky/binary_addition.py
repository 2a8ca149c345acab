"""Binary addition: a context-sensitive task of Delétang et al. 2023 (Table 1).
Layout in tasks/chomsky/base.py."""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar

from ntm_bench.registry import register_task
from tasks.chomsky.base import ChomskyTask, bits_of, value_of


SEP, END = 2, 2  # the operator between the two numbers (input), the termination symbol (output)


def draw_operands(n: int, rng: random.Random) -> list[int]:
    """`a SEP b` in n symbols, little-endian: a has 1..n-2 digits (uniform), b the other n-1-|a|;
    each number uniform over 1..2^digits - 1 and zero-filled to its digits. For n <= 2 the
    benchmark draws a single number in 0..2^n - 2, written in n digits, with no separator."""
    if n <= 2:
        return bits_of(rng.randint(0, 2**n - 2), n)
    k = rng.randint(1, n - 2)
    a, b = rng.randint(1, 2**k - 1), rng.randint(1, 2**(n - 1 - k) - 1)
    return bits_of(a, k) + [SEP] + bits_of(b, n - 1 - k)


def operands(string: list[int]) -> list[int]:
    """The numbers of `a SEP b` (one number when there is no separator)."""
    if SEP not in string:
        return [value_of(string)]
    i = string.index(SEP)
    return [value_of(string[:i]), value_of(string[i + 1:])]


@register_task("binary_addition")
@dataclass(frozen=True)
class BinaryAddition(ChomskyTask):
    """Add two binary numbers, little-endian (least significant digit first).

    length: n, the input length `a + b` (the operator is symbol 2; `draw_operands` has the sampling).
    Output tape n + 1 steps: the sum in binary, little-endian, without trailing (most significant)
    zeros, then the termination symbol 2, then 0s (not scored). For n <= 2 (no operator) the output
    is the input number itself. Vocabulary {0, 1, +}; classes {0, 1, end}.

    Examples (little-endian):
        001 + 01101 -> 01011 2 (0 0 0 0)   (4 + 22 = 26)
        1 + 1 -> 01 2 (0)                  (1 + 1 = 2)
    """

    version: ClassVar[int] = 1
    level: ClassVar[str] = "cs"

    vocabulary = 3
    classes = 3

    def output_length(self, m: int) -> int:
        return m + 1

    def draw_string(self, n: int, rng: random.Random) -> list[int]:
        return draw_operands(n, rng)

    def answer(self, string: list[int]) -> list[int]:
        return bits_of(sum(operands(string))) + [END]
