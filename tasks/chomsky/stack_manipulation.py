"""Stack manipulation: a deterministic context-free task of Delétang et al. 2023 (Table 1): a stack suffices.
Layout in tasks/chomsky/base.py."""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar

from ntm_bench.registry import register_task
from tasks.chomsky.base import ChomskyTask


POP, PUSH0, PUSH1 = 2, 3, 4  # the instructions' symbols


@register_task("stack_manipulation")
@dataclass(frozen=True)
class StackManipulation(ChomskyTask):
    """Run stack instructions on a given stack and output the final stack, top first.

    length: n, the input length: a stack of 0/1 (bottom to top, 1..n-1 symbols, uniform) followed by
    the instructions POP / PUSH 0 / PUSH 1 (symbols 2 / 3 / 4, uniform); n = 1 is a one-symbol
    stack with no instruction. POP on an empty stack does nothing. Output tape: n + 1 steps: the final
    stack top to bottom, the termination symbol 2, then 0s (not scored). Vocabulary {0..4};
    classes {0, 1, 2}.

    Examples (P0 = PUSH 0 = 3, P1 = PUSH 1 = 4, POP = 2):
        0 1 1 0 P1 POP POP -> 1 1 0 2 (0 0 0 0)   (0110 -> 01101 -> 0110 -> 011, read top first)
        1 1 0 POP POP POP -> 2 (0 0 0 0 0 0)      (the stack ends empty)
    """

    version: ClassVar[int] = 1
    level: ClassVar[str] = "dcf"

    vocabulary = 5
    classes = 3

    def output_length(self, m: int) -> int:
        return m + 1

    def draw_string(self, n: int, rng: random.Random) -> list[int]:
        if n == 1:
            return [rng.randrange(2)]
        k = rng.randint(1, n - 1)
        return [rng.randrange(2) for _ in range(k)] + [rng.choice((POP, PUSH0, PUSH1)) for _ in range(n - k)]

    def answer(self, string: list[int]) -> list[int]:
        stack: list[int] = []
        for s in string:
            if s == POP:
                if stack:
                    stack.pop()
            else:  # 0 / 1 of the initial stack, or PUSH 0 / PUSH 1
                stack.append(s if s < 2 else s - PUSH0)
        return stack[::-1] + [2]
