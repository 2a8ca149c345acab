"""Odds first: a context-sensitive task of Delétang et al. 2023 (Table 1).
Layout in tasks/chomsky/base.py."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ntm_bench.registry import register_task
from tasks.chomsky.base import ChomskyTask


@register_task("odds_first")
@dataclass(frozen=True)
class OddsFirst(ChomskyTask):
    """Output the symbols at odd positions first, then those at even positions (positions
    counted from 1): s1 s3 s5 ... s2 s4 s6 ...

    length: n, the string length; output tape n steps. Vocabulary {0, 1}; classes {0, 1}.
    This is the paper's definition and its code's docstring example; the benchmark's code
    concatenates the other way round (0-indexed odd positions first), which is the same task with
    the two halves swapped, equally hard.

    Examples:
        00110101 -> 0100 0111
        110 -> 10 1
    """

    version: ClassVar[int] = 1
    level: ClassVar[str] = "cs"

    vocabulary = 2
    classes = 2

    def output_length(self, m: int) -> int:
        return m

    def answer(self, string: list[int]) -> list[int]:
        return string[0::2] + string[1::2]
