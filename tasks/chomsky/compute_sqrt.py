"""Compute sqrt: a context-sensitive task of Delétang et al. 2023 (Table 1).
Layout in tasks/chomsky/base.py."""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import ClassVar

from ntm_bench.registry import register_task
from tasks.chomsky.base import ChomskyTask, bits_of, value_of


@register_task("compute_sqrt")
@dataclass(frozen=True)
class ComputeSqrt(ChomskyTask):
    """The floor of the square root of a binary number, big-endian (most significant digit first).

    length: n, the number of digits; the number is uniform over 1..2^n - 1, zero-filled to n digits.
    Output tape ceil(n / 2) steps: floor(sqrt) in binary, zero-filled to ceil(n / 2) digits (all
    scored). Vocabulary {0, 1}; classes {0, 1}.

    Examples (big-endian):
        100101 -> 110       (37: sqrt 6.08..., floor 6)
        111 -> 10           (7: sqrt 2.64..., floor 2)
    """

    version: ClassVar[int] = 1
    level: ClassVar[str] = "cs"

    vocabulary = 2
    classes = 2

    def output_length(self, m: int) -> int:
        return math.ceil(m / 2)

    def draw_string(self, n: int, rng: random.Random) -> list[int]:
        return bits_of(rng.randint(1, 2**n - 1), n, little_endian=False)

    def answer(self, string: list[int]) -> list[int]:
        root = math.isqrt(value_of(string, little_endian=False))
        return bits_of(root, self.output_length(len(string)), little_endian=False)
