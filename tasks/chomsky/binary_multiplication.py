"""Binary multiplication: a context-sensitive task of Delétang et al. 2023 (Table 1).
Layout in tasks/chomsky/base.py."""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar

from ntm_bench.registry import register_task
from tasks.chomsky.base import ChomskyTask, bits_of
from tasks.chomsky.binary_addition import END, draw_operands, operands


@register_task("binary_multiplication")
@dataclass(frozen=True)
class BinaryMultiplication(ChomskyTask):
    """Multiply two binary numbers, little-endian.

    length: n, the input length `a * b` (the operator is symbol 2; sampled as in binary addition).
    Output tape n steps: the product in binary, little-endian, without trailing zeros, then the
    termination symbol 2, then 0s (not scored). For n <= 2 (no operator) the benchmark fixes the
    output to n - 1 zeros and the termination symbol. Vocabulary {0, 1, *}; classes {0, 1, end}.

    Examples (little-endian):
        001 * 01101 -> 0001101 2 (0)      (4 * 22 = 88)
        11 * 1 -> 11 2 (0)                (3 * 1 = 3)
    """

    version: ClassVar[int] = 1
    level: ClassVar[str] = "cs"

    vocabulary = 3
    classes = 3

    def output_length(self, m: int) -> int:
        return m

    def draw_string(self, n: int, rng: random.Random) -> list[int]:
        return draw_operands(n, rng)

    def answer(self, string: list[int]) -> list[int]:
        nums = operands(string)
        if len(nums) == 1:
            return [0] * (len(string) - 1) + [END]
        return bits_of(nums[0] * nums[1]) + [END]
