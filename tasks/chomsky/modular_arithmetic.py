"""Modular arithmetic (without brackets):
a regular task of Delétang et al. 2023 (Table 1): a finite-state automaton solves it.
Layout in tasks/chomsky/base.py."""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar

from ntm_bench.registry import register_task
from tasks.chomsky.base import ModularTask


@register_task("modular_arithmetic")
@dataclass(frozen=True)
class ModularArithmetic(ModularTask):
    """The value mod 5 of an expression of digits and + - * without brackets (* binds first).

    length: n, the expression length; expressions alternate digit, operator, digit, ..., so they have
    odd length: an even n draws n - 1 symbols (as the benchmark does). One output step.
    Vocabulary: digits 0..4, then + - * (symbols 5, 6, 7); classes {0..4}. Digits and operators
    are uniform.

    Examples (mod 5):
        1 + 2 * 3 -> 2          (7 mod 5)
        1 - 1 - 1 -> 4          (-1 mod 5)
        0 * 1 + 4 * 3 - 2 -> 0  (10 mod 5)
    """


    version: ClassVar[int] = 1
    level: ClassVar[str] = "regular"

    @property
    def vocabulary(self) -> int:
        return self.modulus + 3  # digits, + - *

    def input_length(self, n: int) -> int:
        return n if n % 2 else n - 1

    def draw_string(self, n: int, rng: random.Random) -> list[int]:
        m = self.input_length(n)
        return [rng.randrange(self.modulus) if i % 2 == 0 else self.modulus + rng.randrange(3)  # digit, operator
                for i in range(m)]

    def answer(self, string: list[int]) -> list[int]:
        plus, times = self.modulus, self.modulus + 2  # minus is modulus + 1
        total, sign, term = 0, 1, string[0]
        for op, digit in zip(string[1::2], string[2::2]):
            if op == times:
                term *= digit
            else:
                total += sign * term
                sign, term = (1 if op == plus else -1), digit  # op is plus or minus
        return [(total + sign * term) % self.modulus]
