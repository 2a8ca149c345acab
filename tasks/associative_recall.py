"""Associative recall (Graves 2014, §4.3): given one item of a list, recall the item after it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ntm_bench.errors import BenchError
from ntm_bench.registry import register_task
from tasks.base import Batch, Point, Task, as_tuple, per_row, random_bits


@register_task("associative_recall")
@dataclass(frozen=True)
class AssociativeRecall(Task):
    """A list of k distinct items, then a query item; the target is the item that followed it.

    items: k, the number of items in the list (k >= 2). An item is `item_vectors` vectors of
    `bits` bits. Each item is preceded by a delimiter flag (input channel `bits`, i.e. 6); the
    query is the second delimiter flag (channel `bits` + 1, i.e. 7), the query item, the second
    delimiter again; then `item_vectors` blank steps whose target is the item after the query
    item, the only scored steps. The query is uniform over the items 1..k-1 (it needs a
    successor). Input size bits + 2 = 8, output size bits = 6.
    T = (item_vectors + 1) * k + 2 * item_vectors + 2 = 4k + 8.

    Examples: k = 3 items A, B, C (vectors a1 a2 a3, b1 b2 b3, c1 c2 c3), query B:
        step     0  1  2  3  4  5  6  7  8  9  10 11 12 13 14 15 16 17 18 19
        input    d  a1 a2 a3 d  b1 b2 b3 d  c1 c2 c3 q  b1 b2 b3 q  .  .  .
        target   .  .  .  .  .  .  .  .  .  .  .  .  .  .  .  .  .  c1 c2 c3
        mask     F  ...                                            F  T  T  T
    (d: channel 6, q: channel 7, .: all zeros), i.e. A B C ? B -> C.
    """

    bits: int = 6  # Graves 2014 §4.3: "each item ... three six-bit binary vectors"
    item_vectors: int = 3  # Graves 2014 §4.3

    version: ClassVar[int] = 1
    axes: ClassVar[tuple[str, ...]] = ("items",)
    default_train: ClassVar[dict] = {"items": (2, 6)}  # Graves 2014 §4.3: 2..6 items, 6 included
    default_test: ClassVar[tuple] = (6, 10, 15, 20)  # Graves 2014 §4.3
    # The target item is in the list before the query; the scored steps get blank inputs, and their
    # number (item_vectors) is the same in every sequence, so the sequence's end reveals nothing.
    noncausal_leak: ClassVar[str | None] = None

    def __post_init__(self):
        for name in ("bits", "item_vectors"):
            if getattr(self, name) < 1:
                raise BenchError(f"task 'associative_recall': {name} must be a positive integer, "
                                 f"got {getattr(self, name)!r}")

    @property
    def input_size(self) -> int:
        return self.bits + 2  # data bits + item delimiter + query delimiter

    @property
    def output_size(self) -> int:
        return self.bits

    def sequence_length(self, point: Point) -> int:
        (k,) = as_tuple(point)
        v = self.item_vectors
        return (v + 1) * k + 2 * v + 2

    def memory_rows_needed(self, point: Point) -> int:
        return self.sequence_length(point) - self.item_vectors  # every input step

    def check_point(self, point: Point) -> None:
        super().check_point(point)
        (k,) = as_tuple(point)
        distinct = 2 ** (self.bits * self.item_vectors)
        if k < 2:
            raise BenchError(f"task 'associative_recall': items must be at least 2 (the query needs a "
                             f"successor), got {k}")
        if k > distinct:
            raise BenchError(f"task 'associative_recall': items must be between 2 and {distinct} "
                             f"(the number of distinct items), got {k}")

    def draw(self, batch_size: int, length, generator: torch.Generator) -> dict:
        """The random content of a batch, as keyword arguments of `encode`.

        Items within a sequence are distinct: duplicates are redrawn until there are none
        (at 20 items of 18 bits a duplicate occurs in ~0.07% of sequences)."""
        points = self.points(batch_size, length)
        k = torch.tensor([p[0] for p in points], dtype=torch.long)  # (B,)
        K, size = int(k.max()), self.item_vectors * self.bits
        items = random_bits((batch_size, K, size), generator)  # (B, K, v*W), one row per item
        real = torch.arange(K)[None, :] < k[:, None]  # (B, K): padding items need not be distinct
        earlier = torch.ones(K, K, dtype=torch.bool).tril(-1)  # (K, K): j' < j
        while True:
            same = (items[:, :, None] == items[:, None, :]).all(-1)  # (B, K, K)
            dup = (same & earlier & real[:, None, :]).any(-1) & real  # (B, K): equals an earlier item
            if not dup.any():
                break
            items[dup] = random_bits((int(dup.sum()), size), generator)
        query = (torch.rand(batch_size, generator=generator) * (k - 1)).long().clamp(max=k - 2)  # U{0..k-2}
        items = items.view(batch_size, K, self.item_vectors, self.bits)
        return {"items": items, "query": query, "num_items": k}

    def encode(self, items: torch.Tensor, query, num_items=None) -> Batch:
        """Lay out explicit content: items (B, K, item_vectors, bits); query (B,) the 0-based index
        of the query item (its successor query + 1 is the target); `num_items` (B,) uses a prefix."""
        B, _, v, W = items.shape
        k = per_row(num_items, B, items.shape[1])  # (B,)
        q = per_row(query, B, 0)  # (B,)
        if ((q < 0) | (q > k - 2)).any():
            raise BenchError(f"task 'associative_recall': query must be an item index in 0..k-2 "
                             f"(it needs a successor), got {q.tolist()} for k = {k.tolist()}")
        K = int(k.max())
        flat = items[:, :K].float().reshape(B, K * v, W)  # (B, K*v, W): item j, vector r at j*v + r
        T = (v + 1) * K + 2 * v + 2
        t = torch.arange(T)[None, :]  # (1, T)
        kc, qc = k[:, None], q[:, None]  # (B, 1)
        Q = (v + 1) * kc  # (B, 1): the first query delimiter
        O = Q + v + 2  # (B, 1): the first output step
        block, r = t // (v + 1), t % (v + 1)  # (1, T): item block and position in it
        in_list = t < Q
        item_delim = in_list & (r == 0)
        item_vec = in_list & (r > 0)
        query_delim = (t == Q) | (t == Q + v + 1)
        query_vec = (t > Q) & (t <= Q + v)
        mask = (t >= O) & (t < O + v)
        valid = t < O + v
        src_in = torch.where(item_vec, block * v + r - 1, qc * v + (t - Q - 1))  # (B, T)
        src_in = src_in.clamp(0, K * v - 1)
        data_in = flat.gather(1, src_in[..., None].expand(B, T, W)) * (item_vec | query_vec)[..., None]
        inputs = torch.cat([data_in, item_delim.float()[..., None], query_delim.float()[..., None]], dim=-1)
        src_out = ((qc + 1) * v + (t - O)).clamp(0, K * v - 1)  # (B, T): the successor's vectors
        targets = flat.gather(1, src_out[..., None].expand(B, T, W)) * mask[..., None]
        return Batch(inputs, targets, mask, valid)


