"""The regular tasks of Delétang et al. 2023 (Table 1): solvable by a finite-state automaton.

Every task here is a classification: one output step after the input string (tasks/chomsky/base.py
has the layout). Alphabets and moduli follow the benchmark's task definitions.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar

from ntm_bench.errors import BenchError
from ntm_bench.registry import register_task
from tasks.chomsky.base import ChomskyTask


@register_task("even_pairs")
@dataclass(frozen=True)
class EvenPairs(ChomskyTask):
    """Is the number of "01" and "10" pairs in a binary string even? Class 0 if even, 1 if odd.

    length: n, the string length; one output step. Vocabulary {0, 1}; classes {0, 1}.
    (The count is odd exactly when the first and last symbols differ.)

    Examples:
        001110 -> 0     (one "01" and one "10": two pairs, even)
        0101001 -> 1    (three "01" and two "10": five pairs, odd)
    """

    version: ClassVar[int] = 1
    level: ClassVar[str] = "regular"

    vocabulary = 2
    classes = 2

    def draw_string(self, n: int, rng: random.Random) -> list[int]:
        return [rng.randrange(2) for _ in range(n)]

    def answer(self, string: list[int]) -> list[int]:
        return [sum(a != b for a, b in zip(string, string[1:])) % 2]


@register_task("parity_check")
@dataclass(frozen=True)
class ParityCheck(ChomskyTask):
    """Is the number of 1s in a binary string even? Class 0 if even, 1 if odd.

    length: n, the string length; one output step. Vocabulary {0, 1}; classes {0, 1}.

    Examples:
        1010100 -> 1    (three 1s)
        01111 -> 0      (four 1s)
    """

    version: ClassVar[int] = 1
    level: ClassVar[str] = "regular"

    vocabulary = 2
    classes = 2

    def draw_string(self, n: int, rng: random.Random) -> list[int]:
        return [rng.randrange(2) for _ in range(n)]

    def answer(self, string: list[int]) -> list[int]:
        return [sum(string) % 2]


@register_task("cycle_navigation")
@dataclass(frozen=True)
class CycleNavigation(ChomskyTask):
    """The final position of a walk on a cycle of 5 states that starts at 0.

    length: n, the number of moves; one output step. Vocabulary {0, 1, 2} = {step left (-1),
    stay (0), step right (+1)}; classes {0..4}, the final state (sum of moves mod 5).

    Examples (symbols 0 = left, 1 = stay, 2 = right):
        2 0 1 0 0 -> 3      (+1 -1 0 -1 -1 = -2 = 3 mod 5)
        2 2 2 0 -> 2        (+1 +1 +1 -1 = 2)
    """

    cycle_length: int = 5  # Delétang et al. 2023: a cycle of 5 states

    version: ClassVar[int] = 1
    level: ClassVar[str] = "regular"

    vocabulary = 3

    def __post_init__(self):
        if self.cycle_length < 2:
            raise BenchError(f"task {self.name!r}: cycle_length must be at least 2, got {self.cycle_length!r}")

    @property
    def classes(self) -> int:
        return self.cycle_length

    def draw_string(self, n: int, rng: random.Random) -> list[int]:
        return [rng.randrange(3) for _ in range(n)]

    def answer(self, string: list[int]) -> list[int]:
        return [sum(a - 1 for a in string) % self.cycle_length]


@register_task("modular_arithmetic")
@dataclass(frozen=True)
class ModularArithmetic(ChomskyTask):
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

    modulus: int = 5  # Delétang et al. 2023: arithmetic mod 5

    version: ClassVar[int] = 1
    level: ClassVar[str] = "regular"

    def __post_init__(self):
        if self.modulus < 2:
            raise BenchError(f"task {self.name!r}: modulus must be at least 2, got {self.modulus!r}")

    @property
    def vocabulary(self) -> int:
        return self.modulus + 3  # digits, + - *

    @property
    def classes(self) -> int:
        return self.modulus

    def input_length(self, n: int) -> int:
        return n if n % 2 else n - 1

    def draw_string(self, n: int, rng: random.Random) -> list[int]:
        m = self.input_length(n)
        return [rng.randrange(self.modulus) if i % 2 == 0 else self.modulus + rng.randrange(3) for i in range(m)]

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
