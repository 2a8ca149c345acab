"""Solve equation: a deterministic context-free task of Delétang et al. 2023 (Table 1): a stack suffices.
Layout in tasks/chomsky/base.py."""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar

from ntm_bench.registry import register_task
from tasks.chomsky.base import ModularTask
from tasks.chomsky.modular_arithmetic_brackets import evaluate, expression


@register_task("solve_equation")
@dataclass(frozen=True)
class SolveEquation(ModularTask):
    """Find the digit x of a bracketed + / - equation mod 5: "expression with x = value".

    length: n, the equation length: an expression of n - 2 symbols (the grammar of
    modular_arithmetic_brackets without *), one of its digits replaced by x, then "=" and the value.
    The replaced digit is the first digit at or after a uniform position (wrapping round). For n < 3
    the benchmark has no equation: the input is n 0s and the answer 0 (kept so that training can draw
    every length in 1..40). One output step. Vocabulary: digits 0..4, + - ( ) x = (symbols 5..10);
    classes {0..4}. With only + and -, x has exactly one solution.

    Examples (mod 5):
        ( x - 3 ) = 1 -> 4            (4 - 3 = 1)
        ( ( 2 + x ) - 4 ) = 0 -> 2
    """


    version: ClassVar[int] = 1
    level: ClassVar[str] = "dcf"

    @property
    def symbols(self) -> dict:
        return {c: self.modulus + i for i, c in enumerate("+-()x=")}

    @property
    def vocabulary(self) -> int:
        return self.modulus + 6

    def draw_string(self, n: int, rng: random.Random) -> list[int]:
        if n < 3:
            return [0] * n
        sym = self.symbols
        expr, value = expression(n - 2, self.modulus, False, rng, sym)
        i = rng.randrange(len(expr))
        while expr[i] >= self.modulus:  # not a digit
            i = (i + 1) % len(expr)
        expr[i] = sym["x"]
        return expr + [sym["="], value]

    def answer(self, string: list[int]) -> list[int]:
        sym = self.symbols
        if sym["x"] not in string:
            return [0]  # the n < 3 placeholder
        lhs, rhs = string[:-2], string[-1]
        solutions = [v for v in range(self.modulus)
                     if evaluate([v if t == sym["x"] else t for t in lhs], self.modulus, sym) == rhs]
        if len(solutions) != 1:
            raise ValueError(f"equation {string} has {len(solutions)} solutions")
        return solutions
