"""Bucket sort: a context-sensitive task of Delétang et al. 2023 (Table 1).
Layout in tasks/chomsky/base.py."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ntm_bench.registry import register_task
from tasks.chomsky.base import ChomskyTask


@register_task("bucket_sort")
@dataclass(frozen=True)
class BucketSort(ChomskyTask):
    """Sort a string over {0..4} in increasing order.

    length: n, the string length; output tape n steps. Vocabulary {0..vocab_size-1} (5);
    classes the same.

    Examples:
        10204112 -> 00111224
        4301 -> 0134
    """

    vocab_size: int = 5  # Delétang et al. 2023: an alphabet of 5 symbols

    version: ClassVar[int] = 1
    level: ClassVar[str] = "cs"

    def __post_init__(self):
        self.require_at_least_two("vocab_size")

    @property
    def vocabulary(self) -> int:
        return self.vocab_size

    @property
    def classes(self) -> int:
        return self.vocab_size

    def output_length(self, m: int) -> int:
        return m

    def answer(self, string: list[int]) -> list[int]:
        return sorted(string)
