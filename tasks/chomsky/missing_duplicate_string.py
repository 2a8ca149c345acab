"""Missing duplicate string: a context-sensitive task of Delétang et al. 2023 (Table 1).
Layout in tasks/chomsky/base.py."""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar

from ntm_bench.registry import register_task
from tasks.chomsky.base import ChomskyTask


MISSING, FILL = 2, 3  # the placeholder of the missing symbol, the filler of odd lengths


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
