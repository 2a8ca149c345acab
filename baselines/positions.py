"""Positional encodings of the Transformer baseline (baselines/transformer.py), as plain functions.

Each takes the positions it encodes: None means 0, 1, ..., T-1 (the everyday case, computed exactly as
before these functions took positions), or a (B, T) or (1, T) tensor of integer positions, which is
how randomised positions (Ruoss et al. 2023) reach every encoding.

- `sinusoids`: Vaswani et al. 2017 §3.5, added to the input embedding.
- `rotate`: RoPE, Su et al. 2021, applied to queries and keys.
- `alibi_slopes` / `alibi_bias`: ALiBi, Press et al. 2022, a per-head linear bias on attention scores.
- `random_positions`: Ruoss et al. 2023, an ordered random subset of 0..L-1 per sequence.
"""
from __future__ import annotations

import math

import torch


def sinusoids(T: int, d: int, like: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
    """Vaswani 2017 §3.5: PE(p, 2i) = sin(p / 10000^(2i/d)), PE(p, 2i+1) = cos(...).

    -> (T, d) at positions 0..T-1, or (B, T, d) at `positions` (B, T)."""
    if positions is None:
        pos = torch.arange(T, device=like.device, dtype=like.dtype)[:, None]  # (T, 1)
    else:
        pos = positions.to(device=like.device, dtype=like.dtype)[..., None]  # (B, T, 1)
    inv = torch.exp(torch.arange(0, d, 2, device=like.device, dtype=like.dtype) * (-math.log(10000.0) / d))
    angle = pos * inv  # (..., T, d/2)
    return torch.stack([angle.sin(), angle.cos()], dim=-1).flatten(-2)  # (..., T, d), interleaved sin, cos


def rotate(x: torch.Tensor, base: float, positions: torch.Tensor | None = None) -> torch.Tensor:
    """RoPE (Su et al. 2021, eq. 34): rotate each pair (x_i, x_{i+D/2}) of a head by angle p * theta_i.

    x (B, H, T, D) -> (B, H, T, D); p = 0..T-1, or `positions` (B or 1, T). Relative: q_p . k_r
    depends on p - r only, at any length."""
    T, D = x.shape[-2], x.shape[-1]
    inv = base ** (-torch.arange(0, D, 2, device=x.device, dtype=x.dtype) / D)  # (D/2,)
    if positions is None:
        angle = torch.arange(T, device=x.device, dtype=x.dtype)[:, None] * inv  # (T, D/2)
    else:
        angle = positions.to(device=x.device, dtype=x.dtype)[:, None, :, None] * inv  # (B, 1, T, D/2)
    cos, sin = angle.cos(), angle.sin()
    x1, x2 = x[..., : D // 2], x[..., D // 2:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


def alibi_slopes(n_heads: int) -> list[float]:
    """Press et al. 2022, §3: head k of n gets slope 2^(-8k/n), k = 1..n (a geometric sequence that
    starts at and has ratio 2^(-8/n)), e.g. 1/2, 1/4, ..., 1/256 for 8 heads.

    When n is not a power of two, the paper's code takes the 2^a slopes of the power of two just below
    n (2^a < n < 2^(a+1)) and adds the first n - 2^a of the odd-numbered slopes of 2^(a+1) heads
    (those that fall between the ones already taken), e.g. 6 heads: 1/4, 1/16, 1/64, 1/256, 1/2, 1/8."""
    if n_heads < 1:
        raise ValueError(f"n_heads must be at least 1, got {n_heads}")
    p = 2 ** math.floor(math.log2(n_heads))

    def geometric(n: int) -> list[float]:
        return [2.0 ** (-8.0 * k / n) for k in range(1, n + 1)]

    return geometric(p) + geometric(2 * p)[0::2][: n_heads - p]


def alibi_bias(slopes: torch.Tensor, T: int, causal: bool, asymmetry: float,
               positions: torch.Tensor | None = None) -> torch.Tensor:
    """ALiBi (Press et al. 2022, eq. in §3): the bias added to head h's score of query i and key j.

    slopes (H,) -> (1 or B, H, T, T), on slopes' device and dtype. With positions p (0..T-1, or the
    given (B or 1, T)), d = p_i - p_j:
    - causal: -m_h * d for j <= i and -inf for j > i (the paper's form: the causal mask is in the bias);
    - bidirectional (the paper defines the causal form only): -m_h * |d|, plus asymmetry * m_h for
      the keys before the query (j < i); with asymmetry 0 the bias is mirror-symmetric and the
      model cannot tell left from right (0.5: Ruoss et al. 2023's code for their encoder).
    The bias depends on p_i - p_j only, so it is defined, finite and of the same form at any length."""
    like = dict(device=slopes.device, dtype=slopes.dtype)
    p = torch.arange(T, **like)[None] if positions is None else positions.to(**like)  # (B or 1, T)
    d = p[:, None, :, None] - p[:, None, None, :]  # (B or 1, 1, T, T): p_i - p_j, query i, key j
    m = slopes[None, :, None, None]  # (1, H, 1, 1)
    index = torch.arange(T, device=slopes.device)
    past = index[None, :] < index[:, None]  # (T, T): key j before query i
    if causal:
        return (-m * d).masked_fill(index[None, :] > index[:, None], float("-inf"))
    return -m * d.abs() + asymmetry * m * past.to(slopes.dtype)


def random_positions(lengths: torch.Tensor, T: int, L: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Ruoss et al. 2023, §3: for a sequence of n steps, n distinct positions drawn uniformly from
    0..L-1 and sorted ascending. lengths (B,) -> (B, T) long, on the CPU.

    Row b holds its n_b positions first; the steps after them (padding, never scored) get L - 1, so a
    row stays non-decreasing. The first n of a uniformly random permutation of 0..L-1 are a uniform
    n-subset; one permutation per row (argsort of uniform noise), drawn from `generator` (torch's
    global generator when None)."""
    B = lengths.shape[0]
    perm = torch.rand(B, L, generator=generator).argsort(dim=1)[:, :T]  # (B, T): distinct per row
    real = torch.arange(T)[None, :] < lengths.cpu()[:, None]  # (B, T)
    return torch.where(real, perm, L).sort(dim=1).values.clamp_max(L - 1)  # (B, T), sorted
