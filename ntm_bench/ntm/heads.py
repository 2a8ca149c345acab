"""The NTM's read and write heads (Graves 2014 §3.1-3.3): their parameters and one step of all of them.

One Linear maps the controller's output h_t to every head's parameters (`HeadLayout` says which
column is which); `heads_step` activates them (§3.3), addresses (eqs. 5-9), reads (eq. 2) and writes
(eqs. 3-4) with the functions of `addressing.py`. `Heads` is the module that owns the Linear.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ntm_bench.ntm.addressing import address, read, write


class HeadParams(NamedTuple):
    """Activated head parameters (§3.3); H = read heads + write heads, W = write heads."""
    key: torch.Tensor  # (B, H, M)
    beta: torch.Tensor  # (B, H, 1) key strength > 0, softplus
    gamma: torch.Tensor  # (B, H, 1) sharpening >= 1, 1 + softplus
    gate: torch.Tensor  # (B, H, 1) interpolation gate in (0, 1), sigmoid
    shift: torch.Tensor  # (B, H, S) softmax over the allowed shifts
    erase: torch.Tensor  # (B, W, M) in (0, 1), sigmoid
    add: torch.Tensor  # (B, W, M)


@dataclass(frozen=True)
class HeadLayout:
    """Where each head parameter sits in the controller's fused head projection.

    Per head (read heads first, then write heads) a block of D = M + 3 + S columns:
    [key (M), beta, gamma, gate, shift logits (S)]; then the erase vectors (W * M) and the add
    vectors (W * M) of the write heads. One Linear produces all of it in one matmul.
    """
    width: int  # M
    read_heads: int  # R
    write_heads: int  # W
    shifts: tuple[int, ...]
    key_tanh: bool = True
    add_tanh: bool = True
    clip: float = 20.0  # 0 = off
    grad_clip: float = 0.0  # the gradient of every weighting w_t, clipped to +-grad_clip per step; 0 = off

    @property
    def heads(self) -> int:
        return self.read_heads + self.write_heads

    @property
    def block(self) -> int:
        return self.width + 3 + len(self.shifts)

    @property
    def size(self) -> int:
        return self.heads * self.block + 2 * self.write_heads * self.width

    def activate(self, v: torch.Tensor) -> HeadParams:
        """Raw projection (B, P) -> clipped, activated head parameters (§3.3, Collier & Beel clip)."""
        B, H, W, M, D = v.shape[0], self.heads, self.write_heads, self.width, self.block
        u = v.clamp(-self.clip, self.clip) if self.clip > 0 else v
        A = u[:, :H * D].view(B, H, D)
        key = torch.tanh(A[..., :M]) if self.key_tanh else A[..., :M]
        sp = F.softplus(A[..., M:M + 2])  # (B, H, 2): beta, gamma - 1
        gate = torch.sigmoid(A[..., M + 2:M + 3])
        shift = torch.softmax(A[..., M + 3:], dim=-1)
        erase = torch.sigmoid(u[:, H * D:H * D + W * M]).view(B, W, M)
        add = u[:, H * D + W * M:].view(B, W, M)
        if self.add_tanh:
            add = torch.tanh(add)
        return HeadParams(key, sp[..., :1], sp[..., 1:] + 1, gate, shift, erase, add)


def heads_step(v, memory, w_prev, layout: HeadLayout, index, read_first: bool = True):
    """One step of the heads on the memory, differentiable by autograd.

    v (B, P) raw head projection, memory (B,N,M), w_prev (B,H,N) ->
    (new memory (B,N,M), weightings (B,H,N), reads (B,R,M)).
    read_first: every head addresses M_{t-1}, reads come from M_{t-1}, then the write.
    Otherwise the write heads address and write first, and the read heads see M_t."""
    R, c = layout.read_heads, layout.grad_clip
    p = layout.activate(v)
    if read_first:
        w = clip_gradient(address(memory, w_prev, p.key, p.beta, p.gate, p.shift, p.gamma, index), c)
        reads = read(memory, w[:, :R])
        return write(memory, w[:, R:], p.erase, p.add), w, reads
    ww = clip_gradient(address(memory, w_prev[:, R:], p.key[:, R:], p.beta[:, R:], p.gate[:, R:], p.shift[:, R:],
                               p.gamma[:, R:], index), c)
    memory = write(memory, ww, p.erase, p.add)
    wr = clip_gradient(address(memory, w_prev[:, :R], p.key[:, :R], p.beta[:, :R], p.gate[:, :R], p.shift[:, :R],
                               p.gamma[:, :R], index), c)
    return memory, torch.cat([wr, ww], 1), read(memory, wr)


def clip_gradient(w: torch.Tensor, c: float) -> torch.Tensor:
    """w, with its gradient (the sum over all its uses) clipped elementwise to +-c in the backward
    pass (c = 0: off; NTMConfig.weighting_grad_clip)."""
    if c > 0 and w.requires_grad:
        w.register_hook(lambda g: g.clamp(-c, c))
    return w


class Heads(nn.Module):
    """All read and write heads: one Linear from the controller output to every head's
    parameters (layout in `HeadLayout`), and one step of addressing, reading and writing."""

    def __init__(self, controller_size: int, layout: HeadLayout, read_first: bool = True):
        super().__init__()
        self.layout, self.read_first = layout, read_first
        self.proj = nn.Linear(controller_size, layout.size)

    def step(self, h, memory, w_prev, shift_index):
        """h (B, C), memory (B, N, M), w_prev (B, H, N), `addressing.shift_index(...)[0]` ->
        (memory (B, N, M), w (B, H, N), reads (B, R, M))."""
        return heads_step(self.proj(h), memory, w_prev, self.layout, shift_index, self.read_first)
