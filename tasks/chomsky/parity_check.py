"""Parity check: a regular task of Delétang et al. 2023 (Table 1): a finite-state automaton solves it.
Layout in tasks/chomsky/base.py."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ntm_bench.registry import register_task
from tasks.chomsky.base import ChomskyTask


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

    def answer(self, string: list[int]) -> list[int]:
        return [sum(string) % 2]
