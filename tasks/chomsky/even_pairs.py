"""Even pairs: a regular task of Delétang et al. 2023 (Table 1): a finite-state automaton solves it.
Layout in tasks/chomsky/base.py."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

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

    def answer(self, string: list[int]) -> list[int]:
        return [sum(a != b for a, b in zip(string, string[1:])) % 2]
