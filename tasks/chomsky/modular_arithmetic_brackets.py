"""Modular arithmetic with brackets:
a deterministic context-free task of Delétang et al. 2023 (Table 1): a stack suffices.
Layout in tasks/chomsky/base.py."""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar

from ntm_bench.registry import register_task
from tasks.chomsky.base import ModularTask


def expression(n: int, modulus: int, mult: bool, rng: random.Random, sym: dict) -> tuple[list[int], int]:
    """A random bracketed expression of exactly n symbols and its value mod `modulus`.

    n = 1..4: d, -d, (d), (-d); longer: (A op B) with A of 1..n-4 symbols (uniform) and B the rest,
    op uniform over + - (and * with `mult`) — the benchmark's grammar."""
    if n == 1:
        d = rng.randrange(modulus)
        return [d], d
    if n <= 4:
        d = rng.randrange(modulus)
        body = [d] if n == 3 else [sym["-"], d]
        value = d if n == 3 else -d % modulus
        return (body if n == 2 else [sym["("], *body, sym[")"]]), value
    left_n = rng.randint(1, n - 4)
    left, a = expression(left_n, modulus, mult, rng, sym)
    right, b = expression(n - 3 - left_n, modulus, mult, rng, sym)
    op = rng.choice("+-*" if mult else "+-")
    value = {"+": a + b, "-": a - b, "*": a * b}[op] % modulus
    return [sym["("], *left, sym[op], *right, sym[")"]], value


def evaluate(tokens: list[int], modulus: int, sym: dict) -> int:
    """The value mod `modulus` of a bracketed expression from `expression` (every operation bracketed)."""
    def parse(i: int) -> tuple[int, int]:
        t = tokens[i]
        if t < modulus:
            return t, i + 1
        if t == sym["-"]:
            v, i = parse(i + 1)
            return -v, i
        if t != sym["("]:
            raise ValueError(f"unexpected symbol {t} at {i}")
        a, i = parse(i + 1)
        if tokens[i] == sym[")"]:
            return a, i + 1
        op = tokens[i]
        b, i = parse(i + 1)
        if tokens[i] != sym[")"]:
            raise ValueError(f"expected ')' at {i}")
        return {sym["+"]: a + b, sym["-"]: a - b, sym.get("*"): a * b}[op], i + 1

    value, end = parse(0)
    if end != len(tokens):
        raise ValueError(f"trailing symbols after {end}")
    return value % modulus


@register_task("modular_arithmetic_brackets")
@dataclass(frozen=True)
class ModularArithmeticBrackets(ModularTask):
    """The value mod 5 of a bracketed expression of digits and + - * (every operation bracketed).

    length: n, the expression length (the grammar is in `expression`); one output step.
    Vocabulary: digits 0..4, then + - * ( ) (symbols 5..9); classes {0..4}. The benchmark's
    experiments use multiplication too (mult=True); mult=False leaves * out of the expressions.

    Examples (mod 5):
        ( 3 * ( - 4 ) ) -> 3          (3 * -4 = -12 = 3 mod 5)
        ( ( 1 + 2 ) - 4 ) -> 4        (-1 mod 5)
    """

    mult: bool = True  # Delétang et al. 2023 (their task list builds it with mult=True)

    version: ClassVar[int] = 1
    level: ClassVar[str] = "dcf"

    @property
    def symbols(self) -> dict:
        return {c: self.modulus + i for i, c in enumerate("+-*()")}

    @property
    def vocabulary(self) -> int:
        return self.modulus + 5

    def draw_string(self, n: int, rng: random.Random) -> list[int]:
        return expression(n, self.modulus, self.mult, rng, self.symbols)[0]

    def answer(self, string: list[int]) -> list[int]:
        return [evaluate(string, self.modulus, self.symbols)]
