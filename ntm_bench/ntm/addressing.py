"""Reading, writing and addressing the NTM's memory (Graves 2014 §3.1-3.3), for all heads at once.

The weightings of all heads are one (B, H, N) tensor, read heads first, then write heads, and
every addressing stage is one batched computation over heads. Plain torch ops, one function per
equation (autograd differentiates them); `heads.py` puts them together into one step.
"""
from __future__ import annotations

import torch

COS_EPS = 1e-8  # cosine similarity: u.v / (|u| |v| + eps), so an all-zero key or row gives 0
SHARPEN_EPS = 1e-12  # sharpening works on log(w + eps): exact zeros stay finite


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
