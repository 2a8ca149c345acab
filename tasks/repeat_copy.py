"""Repeat copy (Graves 2014, §4.2): copy a sequence a given number of times, then say "done"."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar, Optional

import torch
import torch.nn.functional as F

from ntm_bench.errors import BenchError
from ntm_bench.registry import register_task
from tasks.base import Batch, Point, Task, as_tuple, per_row, random_bits


@register_task("repeat_copy")
@dataclass(frozen=True)
class RepeatCopy(Task):
    """Read L random vectors and a repeat count R; output the sequence R times, then an end marker.

    length: L, the number of vectors; repeats: R, the number of copies.
    T = L + 1 + L*R + 1 (L inputs, the count step, L*R outputs, the end-marker step).
    Input channels: `bits` data bits, (with `delimiter`, a flag that is 1 on the count step only,)
    then the count channel, which carries R only on the count step (input size 9, or 10 with the
    flag), normalised to mean 0 and variance 1 over the training range of repeats
    `train_repeats` (uniform on {lo..hi}: mean (lo + hi) / 2, variance ((hi - lo + 1)^2 - 1) / 12).
    With an odd number of values the middle one would encode as 0, a blank step, and the model could
    not tell where the input ends; such a range is normalised as {lo..hi+1} instead (our choice: the
    paper's range, 1..10, is even), so no count ever encodes as 0.
    Output channels: `bits` data bits, then the end marker (output size 9). The L*R + 1 steps
    after the count step get blank inputs and are the scored steps (mask).

    Examples: L = 2, R = 2, vectors a = 10110000, b = 01000001, trained on R in 1..10 (the
    default), so the count reads (2 - 5.5) / sqrt(8.25) = -1.2185:
        step     0          1          2          3   4   5   6   7
        input    a | 0      b | 0      0 | -1.2185 0   0   0   0   0
        target   0          0          0          a|0 b|0 a|0 b|0 00000000|1
        mask     F          F          F          T   T   T   T   T
    i.e. a b 2 -> _ _ _ a b a b end. Trained on R in 1..3 (odd: normalised as 1..4, mean 2.5,
    sd sqrt(15/12)), R = 2 reads -0.4472.
    """

    bits: int = 8  # Graves 2014 §4.2: 8-bit vectors, as in copy
    # The count's normalisation range; None: the run's training range of repeats (for_training_range),
    # else the paper's 1..10 (default_train) for a task built on its own. A suite that writes it must
    # write the training range (a suite once set the two apart, and the count was silently misscaled).
    train_repeats: Optional[tuple[int, int]] = None
    # True: the count step also raises a flag on a delimiter channel of its own, before the count's
    # (input size bits + 2). The paper names only the count's channel; without the flag the count
    # step of R = 5 or 6 (over 1..10) differs from a blank step by +-0.17 on one channel, a weak
    # signal for "the input has ended". False (the default) keeps the layout of version 1's records.
    delimiter: bool = False

    version: ClassVar[int] = 1
    axes: ClassVar[tuple[str, ...]] = ("length", "repeats")
    default_train: ClassVar[dict] = {"length": (1, 10), "repeats": (1, 10)}  # Graves 2014 §4.2
    default_test: ClassVar[tuple] = ((10, 10), (20, 10), (10, 20))  # Graves 2014 §4.2 (+ the training corner)
    # The end marker's step is the sequence's last: a model that sees the whole sequence finds it from
    # where the inputs end, without counting the copies (the skill the task tests).
    noncausal_leak: ClassVar[str | None] = ("its end marker is due on the sequence's last step, which a model "
                                            "that sees later steps finds without counting the copies")

    def __post_init__(self):
        if self.bits < 1:
            raise BenchError(f"task 'repeat_copy': bits must be a positive integer, got {self.bits!r}")
        if self.train_repeats is not None:
            if len(self.train_repeats) != 2 or not 1 <= self.train_repeats[0] <= self.train_repeats[1]:
                raise BenchError(f"task 'repeat_copy': train_repeats must be [lo, hi] with 1 <= lo <= hi, "
                                 f"got {list(self.train_repeats)!r}")

    def for_training_range(self, train_range: dict) -> "RepeatCopy":
        """The count normalised over the training range of repeats (Graves 2014 §4.2)."""
        trained = tuple(train_range["repeats"])
        if self.train_repeats is None:
            return dataclasses.replace(self, train_repeats=trained)
        if tuple(self.train_repeats) != trained:
            raise BenchError(f"task 'repeat_copy': train_repeats {list(self.train_repeats)} differs from the "
                             f"training range of repeats {list(trained)}; the count is normalised over the "
                             f"training range: leave train_repeats out (args.train_repeats=null) or make it equal")
        return self

    @property
    def input_size(self) -> int:
        return self.bits + 1 + int(self.delimiter)  # data bits (+ delimiter flag) + repeat count

    @property
    def output_size(self) -> int:
        return self.bits + 1  # data bits + end marker

    def normalised_repeats(self, repeats: torch.Tensor) -> torch.Tensor:
        """R -> (R - mean) / std over U{lo..hi} (Graves 2014 §4.2: 'normalised to mean 0, variance 1');
        over U{lo..hi+1} when lo..hi has an odd number of values (see the class docstring)."""
        lo, hi = self.train_repeats or self.default_train["repeats"]
        if (hi - lo + 1) % 2:
            hi += 1  # the middle value would encode as 0, a blank step
        mean = (lo + hi) / 2
        std = math.sqrt(((hi - lo + 1) ** 2 - 1) / 12)
        return (repeats.float() - mean) / std

    def sequence_length(self, point: Point) -> int:
        L, R = as_tuple(point)
        return L + 1 + L * R + 1

    def memory_rows_needed(self, point: Point) -> int:
        L, _ = as_tuple(point)
        return L + 1  # the L vectors and the count step

    def draw(self, batch_size: int, length, generator: torch.Generator) -> dict:
        """The random content of a batch, as keyword arguments of `encode`."""
        points = self.points(batch_size, length)
        LR = torch.tensor(points, dtype=torch.long)  # (B, 2): length, repeats
        bits = random_bits((batch_size, int(LR[:, 0].max()), self.bits), generator)  # (B, Lmax, W)
        return {"bits": bits, "repeats": LR[:, 1], "length": LR[:, 0]}

    def encode(self, bits: torch.Tensor, repeats, length=None) -> Batch:
        """Lay out explicit content: bits (B, L, W), repeats (B,) or int; `length` (B,) uses a prefix."""
        B, _, W = bits.shape
        L = per_row(length, B, bits.shape[1])  # (B,)
        R = per_row(repeats, B, 1)  # (B,)
        Lmax = int(L.max())
        T = int((L * (R + 1) + 2).max())
        bits = F.pad(bits[:, :Lmax].float(), (0, 0, 0, T - Lmax))  # (B, T, W)
        t = torch.arange(T)[None, :]  # (1, T)
        Lc, Rc = L[:, None], R[:, None]  # (B, 1)
        end = Lc + 1 + Lc * Rc  # (B, 1): the end-marker step
        reading = t < Lc
        copying = (t > Lc) & (t < end)  # the L*R output steps
        mask = (t > Lc) & (t <= end)
        valid = t <= end
        at_count = t == Lc  # (B, T)
        count = torch.where(at_count, self.normalised_repeats(Rc), 0.0)
        flag = [at_count.float()[..., None]] if self.delimiter else []
        inputs = torch.cat([bits * reading[..., None], *flag, count[..., None]], dim=-1)
        src = (t - Lc - 1).clamp(min=0) % Lc  # (B, T): copy k of the sequence repeats vector (t - L - 1) mod L
        data = bits.gather(1, src[..., None].expand(B, T, W)) * copying[..., None]
        targets = torch.cat([data, (t == end).float()[..., None]], dim=-1)
        return Batch(inputs, targets, mask, valid)


