"""The context-sensitive string tasks of Delétang et al. 2023 (Table 1): duplicate string,
missing duplicate, odds first and bucket sort (the binary arithmetic ones are in
tasks/chomsky/binary.py). Layout in tasks/chomsky/base.py.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar

from ntm_bench.errors import BenchError
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

    def draw_string(self, n: int, rng: random.Random) -> list[int]:
        return [rng.randrange(2) for _ in range(n)]

    def answer(self, string: list[int]) -> list[int]:
        return string + string


MISSING, FILL = 2, 3


@register_task("missing_duplicate_string")
@dataclass(frozen=True)
class MissingDuplicateString(ChomskyTask):
    """A binary string w of n // 2 symbols is given twice (ww) with one symbol replaced by the
    placeholder 2 (a uniform position); output the missing symbol. An odd n ends with the filler 3.
    The benchmark sets n = 1 to the input "1" with answer 1 (w would be empty).

    length: n, the input length; one output step. Vocabulary {0, 1, 2 (missing), 3 (filler)};
    classes {0, 1}.

    Examples:
        0110 0210 -> 1      (w = 0110: the second copy misses its second symbol)
        101 121 3 -> 0      (w = 101; odd length, so a filler at the end)
    """

    version: ClassVar[int] = 1
    level: ClassVar[str] = "cs"

    vocabulary = 4
    classes = 2

    def draw_string(self, n: int, rng: random.Random) -> list[int]:
        if n == 1:
            return [1]
        w = [rng.randrange(2) for _ in range(n // 2)]
        s = w + w
        s[rng.randrange(len(s))] = MISSING
        return s + [FILL] * (n % 2)

    def answer(self, string: list[int]) -> list[int]:
        if len(string) == 1:
            return [1]
        k = len(string) // 2
        i = string.index(MISSING)
        return [string[i + k] if i < k else string[i - k]]


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

    def draw_string(self, n: int, rng: random.Random) -> list[int]:
        return [rng.randrange(2) for _ in range(n)]

    def answer(self, string: list[int]) -> list[int]:
        return string[0::2] + string[1::2]


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
        if self.vocab_size < 2:
            raise BenchError(f"task {self.name!r}: vocab_size must be at least 2, got {self.vocab_size!r}")

    @property
    def vocabulary(self) -> int:
        return self.vocab_size

    @property
    def classes(self) -> int:
        return self.vocab_size

    def output_length(self, m: int) -> int:
        return m

    def draw_string(self, n: int, rng: random.Random) -> list[int]:
        return [rng.randrange(self.vocab_size) for _ in range(n)]

    def answer(self, string: list[int]) -> list[int]:
        return sorted(string)
