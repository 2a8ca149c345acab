"""Dynamic N-grams (Graves 2014, §4.4): predict the next bit of a random 6-gram source, and the
Bayes-optimal predictor that gives the task its reference cost (registered as a model)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ntm_bench.errors import BenchError
from ntm_bench.registry import register_model, register_task
from tasks.base import Batch, Point, Task, as_tuple, per_row


@register_task("dynamic_ngrams")
@dataclass(frozen=True)
class DynamicNgrams(Task):
    """Bits from a per-sequence random (context + 1)-gram model; predict each bit from the past.

    length: L, the number of bits. T = L and every step is scored. Per sequence, the
    2**context probabilities P(next bit = 1 | previous `context` bits) are drawn i.i.d. from
    Beta(1/2, 1/2); the first `context` bits are Bernoulli(1/2), the rest follow the table.
    Input channels: the previous bit (channel 0; 0 at t = 0) and a start flag (channel 1, 1 only
    at t = 0), input size 2. Output channel: bit t, output size 1.

    Examples: L = 4, bits 1 0 1 1:
        step     0     1     2     3
        input    0 1   1 0   0 0   1 0      (previous bit, start flag)
        target   1     0     1     1
        mask     T     T     T     T
    The optimal predictor's cost on seven zeros (context 5) is 1 bit for each of the first 5
    bits, 1 bit for bit 5 (its context 00000 is unseen: p = 1/2), and -log2(3/4) = 0.415 bits
    for bit 6 (00000 was followed once by 0: P(1) = (0 + 1/2) / (1 + 1) = 1/4): 6.415 bits.
    """

    context: int = 5  # Graves 2014 §4.4: 6-gram model, 5 bits of context, 32 probabilities

    version: ClassVar[int] = 1
    axes: ClassVar[tuple[str, ...]] = ("length",)
    default_train: ClassVar[dict] = {"length": (200, 200)}  # Graves 2014 §4.4: 200-bit sequences
    default_test: ClassVar[tuple] = (200, 500, 1000)  # ours: the paper tests only at 200
    # Every step is scored and its input is the previous bit: a model that reads step t+1 reads the
    # target of step t.
    noncausal_leak: ClassVar[str | None] = "the input at step t+1 is the target at step t"

    def __post_init__(self):
        if not 1 <= self.context <= 16:
            raise BenchError(f"task 'dynamic_ngrams': context must be an integer in 1..16, got {self.context!r}")

    @property
    def input_size(self) -> int:
        return 2  # previous bit + start flag

    @property
    def output_size(self) -> int:
        return 1

    def sequence_length(self, point: Point) -> int:
        (L,) = as_tuple(point)
        return L

    def memory_rows_needed(self, point: Point) -> int:
        return 2 ** self.context  # one row per context, to keep its counts

    def draw_tables(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """(B, 2**context) probabilities P(1 | context), i.i.d. Beta(1/2, 1/2) (Graves 2014 §4.4).

        Beta(1/2, 1/2) is the arcsine law, CDF (2/pi) asin(sqrt(p)), so p = sin(pi u / 2)^2 for
        u ~ U(0, 1) samples it exactly."""
        u = torch.rand(batch_size, 2 ** self.context, generator=generator)
        return torch.sin(0.5 * math.pi * u) ** 2

    def draw_bits(self, tables: torch.Tensor, length: int, generator: torch.Generator) -> torch.Tensor:
        """(B, length) bits: the first `context` Bernoulli(1/2), then each from its context's probability."""
        B, c = tables.shape[0], self.context
        u = torch.rand(B, length, generator=generator)  # (B, L): one uniform per bit
        bits = torch.zeros(B, length)
        bits[:, :c] = (u[:, :c] < 0.5).float()
        ctx = torch.zeros(B, dtype=torch.long)  # (B,): the last c bits, oldest most significant
        for t in range(min(c, length)):
            ctx = (ctx << 1) | bits[:, t].long()
        for t in range(c, length):  # sequential: each bit's context holds the previous bits
            p = tables.gather(1, ctx[:, None])[:, 0]  # (B,)
            b = (u[:, t] < p).long()
            bits[:, t] = b.float()
            ctx = ((ctx << 1) | b) & (2 ** c - 1)
        return bits

    def draw(self, batch_size: int, length, generator: torch.Generator) -> dict:
        """The random content of a batch, as keyword arguments of `encode`."""
        points = self.points(batch_size, length)
        L = torch.tensor([p[0] for p in points], dtype=torch.long)  # (B,)
        bits = self.draw_bits(self.draw_tables(batch_size, generator), int(L.max()), generator)
        return {"bits": bits, "length": L}

    def encode(self, bits: torch.Tensor, length=None) -> Batch:
        """Lay out explicit content: bits (B, L); `length` (B,) uses a prefix of each row."""
        B = bits.shape[0]
        L = per_row(length, B, bits.shape[1])  # (B,)
        T = int(L.max())
        valid = torch.arange(T)[None, :] < L[:, None]  # (B, T)
        bits = bits[:, :T].float() * valid
        prev = F.pad(bits, (1, 0))[:, :T] * valid  # (B, T): bit t-1 at step t, 0 at t = 0 and on padding
        start = torch.zeros(B, T)
        start[:, 0] = 1.0
        inputs = torch.stack([prev, start * valid], dim=-1)  # (B, T, 2)
        return Batch(inputs, bits[..., None], valid.clone(), valid)


    def reference_bits(self, batch: Batch) -> torch.Tensor:
        """(B,) cost in bits of the Bayes-optimal predictor on exactly these sequences."""
        logits = optimal_logits(batch.inputs[..., 0], self.context)  # (B, T)
        nats = F.binary_cross_entropy_with_logits(logits, batch.targets[..., 0], reduction="none")
        return (nats * batch.mask).sum(1) / math.log(2)


def optimal_logits(prev_bits: torch.Tensor, context: int = 5) -> torch.Tensor:
    """Bayes-optimal logits (B, T) of bit t given the bits before it (Graves 2014 §4.4).

    prev_bits (B, T): bit t-1 at step t (the task's input channel 0). With a Beta(1/2, 1/2)
    prior on each context's probability, P(1 | c) = (N1 + 1/2) / (N1 + N0 + 1), N1/N0 the ones and
    zeros seen after context c so far in this sequence: logit = log(N1 + 1/2) - log(N0 + 1/2).
    The first `context` bits have no context: p = 1/2, logit 0."""
    B, T = prev_bits.shape
    bits = prev_bits.round().long()  # (B, T)
    counts = torch.zeros(B, 2 ** context * 2, dtype=prev_bits.dtype, device=prev_bits.device)  # (B, 2C): [c, bit]
    ctx = torch.zeros(B, dtype=torch.long, device=prev_bits.device)  # (B,): context of the next bit
    logits = torch.zeros(B, T, dtype=prev_bits.dtype, device=prev_bits.device)
    one = torch.ones(B, 1, dtype=prev_bits.dtype, device=prev_bits.device)
    for t in range(1, T):
        b = bits[:, t]  # (B,): bit t-1, now seen
        if t - 1 >= context:  # bit t-1 had a full context: count it
            counts.scatter_add_(1, (ctx * 2 + b)[:, None], one)
        ctx = ((ctx << 1) | b) & (2 ** context - 1)
        if t >= context:
            n = counts.view(B, -1, 2).gather(1, ctx[:, None, None].expand(B, 1, 2))[:, 0]  # (B, 2): N0, N1
            logits[:, t] = torch.log(n[:, 1] + 0.5) - torch.log(n[:, 0] + 0.5)
    return logits


@register_model("ngram_optimal", tasks=("dynamic_ngrams",), reference=True)
class NgramOptimal(nn.Module):
    """The Bayes-optimal dynamic N-gram predictor as a model with no trainable parameters:
    the task's non-neural reference row (Graves 2014 §4.4: ~133 bits per 200-bit sequence)."""

    def __init__(self, input_size: int, output_size: int, context: int = 5):  # Graves 2014 §4.4
        super().__init__()
        if input_size != 2 or output_size != 1:
            raise BenchError(f"model 'ngram_optimal' runs only task 'dynamic_ngrams' (input size 2, "
                             f"output size 1), got input size {input_size}, output size {output_size}")
        self.context = context

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        return optimal_logits(x[..., 0], self.context)[..., None]  # (B, T, 1); padding is at the end

