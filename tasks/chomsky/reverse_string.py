"""Reverse string: a deterministic context-free task of Delétang et al. 2023 (Table 1): a stack suffices.
Layout in tasks/chomsky/base.py."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ntm_bench.registry import register_task
from tasks.chomsky.base import ChomskyTask


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

    def answer(self, string: list[int]) -> list[int]:
        return string[::-1]
