"""Memory and addressing of the NTM (Graves 2014 §3.1-3.3), for all heads at once.

The weightings of all heads are one (B, H, N) tensor, read heads first, then write heads, and
every addressing stage is one batched computation over heads. Everything here is plain torch
ops (autograd differentiates it); `fused.py` wraps the same forward with a hand-written backward.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F

COS_EPS = 1e-8  # cosine similarity: u.v / (|u| |v| + eps), so an all-zero key or row gives 0
SHARPEN_EPS = 1e-12  # sharpening works on log(w + eps): exact zeros stay finite


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


def shift_index(shifts, rows: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Gather indices for the circular shift (§3.3.2, eq. 8) and for its transpose.

    fwd[k * N + i] = (i - shift_k) mod N, so w~(i) = sum_k s_k w(fwd_k(i)) = sum_j w(j) s(i - j);
    bwd[k * N + j] = (j + shift_k) mod N (the backward pass gathers the gradient through it).
    """
    i = torch.arange(rows, device=device)
    sh = torch.tensor(list(shifts), device=device).unsqueeze(1)  # (S, 1)
    return ((i - sh) % rows).reshape(-1), ((i + sh) % rows).reshape(-1)


def content_weighting(memory: torch.Tensor, key: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """§3.3.1, eqs. 5-6: softmax_i(beta * cos(k, M(i))). memory (B,N,M), key (B,H,M) -> (B,H,N)."""
    dot = torch.bmm(key, memory.transpose(1, 2))  # (B, H, N)
    den = key.norm(dim=-1, keepdim=True) * memory.norm(dim=-1).unsqueeze(1) + COS_EPS  # (B, H, N)
    return torch.softmax(beta * (dot / den), dim=-1)


def interpolate(w_content: torch.Tensor, w_prev: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
    """§3.3.2, eq. 7: g w^c + (1 - g) w_{t-1}. (B, H, N)"""
    return torch.lerp(w_prev, w_content, gate)


def circular_shift(w: torch.Tensor, shift: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """§3.3.2, eq. 8: w~(i) = sum_j w(j) s(i - j), indices mod N. w (B,H,N), shift (B,H,S)."""
    B, H, N = w.shape
    shifted = w.index_select(-1, index).view(B, H, -1, N)  # (B, H, S, N): w(i - shift_k)
    return torch.matmul(shift.unsqueeze(-2), shifted).squeeze(-2)


def sharpen(w: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """§3.3.2, eq. 9: w^gamma / sum_j w(j)^gamma, computed as softmax(gamma * log(w + eps)).

    Same value (up to eps), but stable: a plain power underflows to 0/0 for gamma ~ 20."""
    return torch.softmax(gamma * torch.log(w + SHARPEN_EPS), dim=-1)


def address(memory, w_prev, key, beta, gate, shift, gamma, index) -> torch.Tensor:
    """§3.3: content -> interpolation -> shift -> sharpening, for all heads in one pass (B,H,N)."""
    w = content_weighting(memory, key, beta)
    w = interpolate(w, w_prev, gate)
    w = circular_shift(w, shift, index)
    return sharpen(w, gamma)


def read(memory: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """§3.1, eq. 2: r = sum_i w(i) M(i). memory (B,N,M), w (B,R,N) -> (B,R,M)."""
    return torch.bmm(w, memory)


def write(memory, w, erase, add) -> torch.Tensor:
    """§3.2, eqs. 3-4: all erases, then all adds (so head order does not matter).

    memory (B,N,M), w (B,W,N), erase and add (B,W,M)."""
    if w.shape[1] == 1:
        keep = 1 - w.transpose(1, 2) * erase  # (B, N, M): 1 - w(i) e
    else:
        keep = (1 - w.unsqueeze(-1) * erase.unsqueeze(-2)).prod(1)  # (B, N, M)
    return torch.baddbmm(memory * keep, w.transpose(1, 2), add)  # + sum_h w_h(i) a_h


def memory_step(v, memory, w_prev, layout: HeadLayout, index, read_first: bool = True):
    """One step of the heads on the memory, differentiable by autograd.

    v (B, P) raw head projection, memory (B,N,M), w_prev (B,H,N) ->
    (new memory (B,N,M), weightings (B,H,N), reads (B,R,M)).
    read_first: every head addresses M_{t-1}, reads come from M_{t-1}, then the write.
    Otherwise the write heads address and write first, and the read heads see M_t."""
    R = layout.read_heads
    p = layout.activate(v)
    if read_first:
        w = address(memory, w_prev, p.key, p.beta, p.gate, p.shift, p.gamma, index)
        reads = read(memory, w[:, :R])
        return write(memory, w[:, R:], p.erase, p.add), w, reads
    ww = address(memory, w_prev[:, R:], p.key[:, R:], p.beta[:, R:], p.gate[:, R:], p.shift[:, R:],
                 p.gamma[:, R:], index)
    memory = write(memory, ww, p.erase, p.add)
    wr = address(memory, w_prev[:, :R], p.key[:, :R], p.beta[:, :R], p.gate[:, :R], p.shift[:, :R],
                 p.gamma[:, :R], index)
    return memory, torch.cat([wr, ww], 1), read(memory, wr)
