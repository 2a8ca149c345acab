"""Duplicate string: a context-sensitive task of Delétang et al. 2023 (Table 1).
Layout in tasks/chomsky/base.py."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ntm_bench.registry import register_task
from tasks.chomsky.base import ChomskyTask


@register_task("duplicate_string")
@dataclass(frozen=True)
class DuplicateString(ChomskyTask):
    """Output a binary string twice, without a separator.

    length: n, the string length; output tape 2n steps. Vocabulary {0, 1}; classes {0, 1}.

    Examples:
        101 -> 101101
        0 -> 00
    """

    version: ClassVar[int] = 1
    level: ClassVar[str] = "cs"

    vocabulary = 2
    classes = 2

    def output_length(self, m: int) -> int:
        return 2 * m

    def answer(self, string: list[int]) -> list[int]:
        return string + string
