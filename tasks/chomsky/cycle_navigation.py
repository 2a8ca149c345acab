"""Cycle navigation: a regular task of Delétang et al. 2023 (Table 1): a finite-state automaton solves it.
Layout in tasks/chomsky/base.py."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ntm_bench.registry import register_task
from tasks.chomsky.base import ChomskyTask


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
        self.require_at_least_two("cycle_length")

    @property
    def classes(self) -> int:
        return self.cycle_length

    def answer(self, string: list[int]) -> list[int]:
        return [sum(a - 1 for a in string) % self.cycle_length]
