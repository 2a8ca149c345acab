"""An example of a user's own task: one file, no change to the package.

    python run_bench.py run smoke --plugin examples/reverse_copy.py --tasks reverse_copy --out /tmp/rc
    python run_bench.py run quick --plugin examples/reverse_copy.py --tasks reverse_copy --models ntm,lstm

Reverse copy is copy with the answer in reverse order, so it derives from the built-in copy task
(`tasks/copy.py`, a task written from scratch: sizes, lengths, `draw` and `encode`) and changes only
what differs: its name, version, test points, docstring and the targets that `encode` lays out.
"""
from dataclasses import dataclass
from typing import ClassVar

import torch

from ntm_bench import Batch, per_row, register_task
from tasks.copy import Copy


@register_task("reverse_copy")
@dataclass(frozen=True)
class ReverseCopy(Copy):
    """Read L random `bits`-wide vectors and a delimiter, then write the vectors back, last first.

    length: L. T = 2L + 1 (L inputs, the delimiter, L outputs). Input channels: `bits` data bits,
    then the delimiter flag (input size bits + 1 = 9). Output channels: the `bits` data bits. The L
    output steps get blank inputs and are the only scored steps (mask).

    Example: L = 2, vectors a = 10110000, b = 01000001 (channels left to right):
        step      0           1           2           3           4
        input     10110000 0  01000001 0  00000000 1  00000000 0  00000000 0
        target    00000000    00000000    00000000    01000001    10110000
        mask      F           F           F           T           T
    i.e. a b | -> _ _ _ b a (copy would answer a b). A stack, not a queue: a memory model can write
    forwards and read backwards.
    """

    version: ClassVar[int] = 1              # bump whenever what `sample` draws changes
    axes: ClassVar[tuple] = ("length",)     # the generalisation axis: test points beyond its training range
    default_train: ClassVar[dict] = {"length": (1, 20)}
    default_test: ClassVar[tuple] = (10, 20, 30, 50)

    def encode(self, bits: torch.Tensor, length=None) -> Batch:
        """Copy's layout, with the output step L+1+i answering input vector L-1-i."""
        batch = super().encode(bits, length)
        B, T, W = batch.targets.shape
        L = per_row(length, B, bits.shape[1])[:, None]  # (B, 1)
        t = torch.arange(T)[None, :]  # (1, T)
        src = (2 * L - t).clamp(0, T - 1)  # (B, T): which input step each output step repeats
        targets = batch.inputs[..., :W].gather(1, src[..., None].expand(B, T, W)) * batch.mask[..., None]
        return batch._replace(targets=targets)
