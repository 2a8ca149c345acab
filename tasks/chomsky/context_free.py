"""The deterministic context-free tasks of Delétang et al. 2023 (Table 1): solvable with a stack.

Layout in tasks/chomsky/base.py. Alphabets, moduli and the expression grammar follow the
benchmark's task definitions.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar

from ntm_bench.errors import BenchError
from ntm_bench.registry import register_task
from tasks.chomsky.base import ChomskyTask

POP, PUSH0, PUSH1 = 2, 3, 4


@register_task("stack_manipulation")
@dataclass(frozen=True)
class StackManipulation(ChomskyTask):
    """Run stack instructions on a given stack and output the final stack, top first.

    length: n, the input length: a stack of 0/1 (bottom to top, 1..n-1 symbols, uniform) followed by
    the instructions POP / PUSH 0 / PUSH 1 (symbols 2 / 3 / 4, uniform); n = 1 is a one-symbol
    stack with no instruction. POP on an empty stack does nothing. Output tape: n + 1 steps: the final
    stack top to bottom, the termination symbol 2, then 0s (not scored). Vocabulary {0..4};
    classes {0, 1, 2}.

    Examples (P0 = PUSH 0 = 3, P1 = PUSH 1 = 4, POP = 2):
        0 1 1 0 P1 POP POP -> 1 1 0 2 (0 0 0 0)   (0110 -> 01101 -> 0110 -> 011, read top first)
        1 1 0 POP POP POP -> 2 (0 0 0 0 0 0)      (the stack ends empty)
    """

    version: ClassVar[int] = 1
    level: ClassVar[str] = "dcf"

    vocabulary = 5
    classes = 3

    def output_length(self, m: int) -> int:
        return m + 1

    def draw_string(self, n: int, rng: random.Random) -> list[int]:
        if n == 1:
            return [rng.randrange(2)]
        k = rng.randint(1, n - 1)
        return [rng.randrange(2) for _ in range(k)] + [rng.choice((POP, PUSH0, PUSH1)) for _ in range(n - k)]

    def answer(self, string: list[int]) -> list[int]:
        stack: list[int] = []
        for s in string:
            if s == POP:
                if stack:
                    stack.pop()
            else:  # 0 / 1 of the initial stack, or PUSH 0 / PUSH 1
                stack.append(s if s < 2 else s - PUSH0)
        return stack[::-1] + [2]


@register_task("reverse_string")
@dataclass(frozen=True)
class ReverseString(ChomskyTask):
    """Output a binary string reversed.

    length: n, the string length; output tape n steps. Vocabulary {0, 1}; classes {0, 1}.

    Examples:
        011010 -> 010110
        1101 -> 1011
    """

    version: ClassVar[int] = 1
    level: ClassVar[str] = "dcf"

    vocabulary = 2
    classes = 2

    def output_length(self, m: int) -> int:
        return m

    def draw_string(self, n: int, rng: random.Random) -> list[int]:
        return [rng.randrange(2) for _ in range(n)]

    def answer(self, string: list[int]) -> list[int]:
        return string[::-1]


# ---------------------------------------------------------------------------------------------
# Bracketed modular expressions (shared by modular_arithmetic_brackets and solve_equation)

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
class ModularArithmeticBrackets(ChomskyTask):
    """The value mod 5 of a bracketed expression of digits and + - * (every operation bracketed).

    length: n, the expression length (the grammar is in `expression`); one output step.
    Vocabulary: digits 0..4, then + - * ( ) (symbols 5..9); classes {0..4}. The benchmark's
    experiments use multiplication too (mult=True); mult=False leaves * out of the expressions.

    Examples (mod 5):
        ( 3 * ( - 4 ) ) -> 3          (3 * -4 = -12 = 3 mod 5)
        ( ( 1 + 2 ) - 4 ) -> 4        (-1 mod 5)
    """

    modulus: int = 5  # Delétang et al. 2023: mod 5
    mult: bool = True  # Delétang et al. 2023 (their task list builds it with mult=True)

    version: ClassVar[int] = 1
    level: ClassVar[str] = "dcf"

    def __post_init__(self):
        if self.modulus < 2:
            raise BenchError(f"task {self.name!r}: modulus must be at least 2, got {self.modulus!r}")

    @property
    def symbols(self) -> dict:
        return {c: self.modulus + i for i, c in enumerate("+-*()")}

    @property
    def vocabulary(self) -> int:
        return self.modulus + 5

    @property
    def classes(self) -> int:
        return self.modulus

    def draw_string(self, n: int, rng: random.Random) -> list[int]:
        return expression(n, self.modulus, self.mult, rng, self.symbols)[0]

    def answer(self, string: list[int]) -> list[int]:
        return [evaluate(string, self.modulus, self.symbols)]


@register_task("solve_equation")
@dataclass(frozen=True)
class SolveEquation(ChomskyTask):
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

    modulus: int = 5  # Delétang et al. 2023: mod 5

    version: ClassVar[int] = 1
    level: ClassVar[str] = "dcf"

    def __post_init__(self):
        if self.modulus < 2:
            raise BenchError(f"task {self.name!r}: modulus must be at least 2, got {self.modulus!r}")

    @property
    def symbols(self) -> dict:
        return {c: self.modulus + i for i, c in enumerate("+-()x=")}

    @property
    def vocabulary(self) -> int:
        return self.modulus + 6

    @property
    def classes(self) -> int:
        return self.modulus

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
