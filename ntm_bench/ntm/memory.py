"""The NTM's memory bank (Graves 2014 §3.1): its state at the start of every sequence.

`Memory` owns the initial memory, read vectors and weightings (Collier & Beel 2018), and whether N
may change after training. The heads that read and write it are in `heads.py`.
"""
from __future__ import annotations

import torch
from torch import nn

from ntm_bench.errors import BenchError

_PAD_LOGIT = 50.0  # new rows' initial-weighting logit sits this far below the lowest: weight ~e^-50
_RANDOM_CHUNK = 128  # "random" memory is drawn in seeded chunks of rows, so rows stay put on resize


class Memory(nn.Module):
    """Initial state of the memory and of the heads.

    init "constant": every cell `value` (1e-6, Collier & Beel 2018): no parameters, any N.
    init "random": a fixed draw N(0, 0.5^2) clipped to +-1 (not learned), rows seeded per chunk of
        128, so making N larger keeps the first rows and only adds new ones.
    init "learned": an (N, M) parameter; N is then fixed (set_rows raises BenchError).
    Initial weightings (learned_init_state): softmax over a learned (H, N_train) bias. With N larger
    at evaluation the bias is padded 50 below its minimum (new rows start with ~e^-50 of the
    weight); with N smaller it is cut (the softmax renormalises). Initial reads: learned (R, M).
    """

    def __init__(self, rows: int, width: int, read_heads: int, write_heads: int, init: str = "constant",
                 value: float = 1e-6, learned_init_state: bool = True):
        super().__init__()
        self.rows, self.width, self.read_heads, self.init, self.value = rows, width, read_heads, init, value
        self.heads = heads = read_heads + write_heads
        self.learned_init_state = learned_init_state
        if learned_init_state:
            self.init_weight_logits = nn.Parameter(torch.randn(heads, rows) * 1e-5)  # Collier & Beel 2018
            self.init_reads = nn.Parameter(torch.randn(read_heads, width) * 0.5)
        if init == "learned":
            self.init_memory = nn.Parameter(torch.full((rows, width), value))
        elif init == "random":
            self.register_buffer("init_memory", self._random_rows(rows), persistent=False)

    def _random_rows(self, rows: int) -> torch.Tensor:
        chunks = []
        for c in range(-(-rows // _RANDOM_CHUNK)):
            gen = torch.Generator().manual_seed(1_000_003 + c)
            chunks.append((torch.randn(_RANDOM_CHUNK, self.width, generator=gen) * 0.5).clamp(-1, 1))
        return torch.cat(chunks)[:rows]

    def can_resize(self) -> bool:
        return self.init != "learned"

    def set_rows(self, rows: int) -> None:
        if rows < 1:
            raise BenchError(f"memory rows must be >= 1, got {rows}")
        if rows != self.rows and not self.can_resize():
            raise BenchError(f"cannot change the NTM's memory rows from {self.rows} to {rows}: the initial "
                             f"memory is learned (init_memory='learned'); use 'constant' or 'random'")
        if self.init == "random":
            like = self.init_memory
            self.init_memory = self._random_rows(rows).to(like.device, like.dtype)
        self.rows = rows

    def initial(self, batch_size: int, like: torch.Tensor):
        """(memory (B,N,M), weightings (B,H,N), reads (B,R,M)) on like's device and dtype."""
        B, N, M, R = batch_size, self.rows, self.width, self.read_heads
        if self.init == "constant":
            memory = like.new_full((B, N, M), self.value)
        else:
            memory = self.init_memory.to(like.dtype).unsqueeze(0).expand(B, N, M)
        if self.learned_init_state:
            logits = self.init_weight_logits.to(like.dtype)  # (H, N_train)
            n_train = logits.shape[1]
            if N > n_train:
                pad = logits.min().detach() - _PAD_LOGIT
                logits = torch.cat([logits, pad.expand(logits.shape[0], N - n_train)], 1)
            elif N < n_train:
                logits = logits[:, :N]
            w = torch.softmax(logits, -1).unsqueeze(0).expand(B, -1, -1)
            reads = self.init_reads.to(like.dtype).unsqueeze(0).expand(B, R, M)
        else:
            w = like.new_zeros(B, self.heads, N)
            w[..., 0] = 1  # every head starts on row 0
            reads = like.new_zeros(B, R, M)
        return memory, w, reads

    def extra_repr(self) -> str:
        return f"rows={self.rows}, width={self.width}, init={self.init!r}"
