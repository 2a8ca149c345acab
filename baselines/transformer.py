"""A Transformer encoder baseline (Vaswani et al. 2017) for the algorithmic tasks.

Graves 2014 has no Transformer; this is the modern baseline of the length-generalisation
literature (Delétang et al. 2023, reference §6). The encoder reads the whole input stream, the
blank output-phase steps included, and a linear read-out gives the logits at every step:

    x (B, T, in) -> Linear -> (+ positions) -> n_layers x [attention, feed-forward] -> Linear -> (B, T, out)

Choices (the paper is silent on all of them; each is a config option):
- attention is causal by default: every target of these tasks depends only on earlier inputs, so a
  causal encoder sees what the recurrent baselines see, no more; and padding (always at the end)
  can never reach a real step. With `causal=False` the attention is bidirectional and `valid`
  is the key padding mask, so padding still never changes a real step's output.
- positions: "rotary" by default (RoPE, Su et al. 2021: relative, no table, so it is defined at
  every length, which is what this benchmark tests); also "sinusoidal" (Vaswani 2017, §3.5),
  "learned" (a table of `max_positions` rows; rows beyond the training lengths stay untrained)
  and "none" (causal attention still carries an implicit sense of position).
- pre-norm by default (Xiong et al. 2020: trains stably without learning-rate warm-up);
  "post" is the original 2017 arrangement.
Attention is written out (so RoPE can act on queries and keys) around
torch.nn.functional.scaled_dot_product_attention.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ntm_bench.errors import BenchError
from ntm_bench.registry import SpeedRow, register_model


@dataclass(frozen=True)
class TransformerConfig:
    # Sizes: small enough to train on one CPU core in a minute or two (our choice; ~0.1M parameters).
    n_layers: int = 2
    d_model: int = 64
    n_heads: int = 4
    d_ff: int = 256  # 4 x d_model, Vaswani 2017 §3.3
    dropout: float = 0.0  # deterministic by default; the tasks have unlimited fresh data
    norm: Literal["pre", "post"] = "pre"  # Xiong et al. 2020; "post" = Vaswani 2017
    causal: bool = True  # see the module docstring
    position: Literal["rotary", "sinusoidal", "learned", "none"] = "rotary"  # Su et al. 2021
    max_positions: int = 1024  # "learned" only: table size; copy at 120 needs T = 241 (reference §2)
    rope_base: float = 10000.0  # Su et al. 2021 (the same base as Vaswani's sinusoids)

    def __post_init__(self):
        for name in ("n_layers", "d_model", "n_heads", "d_ff", "max_positions"):
            if getattr(self, name) < 1:
                raise BenchError(f"transformer option {name!r} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise BenchError(f"transformer option 'dropout' must be in [0, 1), got {self.dropout}")
        if self.d_model % self.n_heads:
            raise BenchError(f"transformer option 'd_model' ({self.d_model}) must be divisible by "
                             f"'n_heads' ({self.n_heads})")
        if self.position == "rotary" and (self.d_model // self.n_heads) % 2:
            raise BenchError(f"transformer position 'rotary' needs an even head size "
                             f"(d_model / n_heads), got {self.d_model // self.n_heads}")
        if self.position == "sinusoidal" and self.d_model % 2:
            raise BenchError(f"transformer position 'sinusoidal' needs an even 'd_model', got {self.d_model}")


def sinusoids(T: int, d: int, like: torch.Tensor) -> torch.Tensor:
    """Vaswani 2017 §3.5: PE(p, 2i) = sin(p / 10000^(2i/d)), PE(p, 2i+1) = cos(...). -> (T, d)."""
    pos = torch.arange(T, device=like.device, dtype=like.dtype)[:, None]  # (T, 1)
    inv = torch.exp(torch.arange(0, d, 2, device=like.device, dtype=like.dtype) * (-math.log(10000.0) / d))
    angle = pos * inv  # (T, d/2)
    return torch.stack([angle.sin(), angle.cos()], dim=-1).flatten(-2)  # (T, d), interleaved sin, cos


def rotate(x: torch.Tensor, base: float) -> torch.Tensor:
    """RoPE (Su et al. 2021, eq. 34): rotate each pair (x_i, x_{i+D/2}) of a head by angle p * theta_i.

    x (B, H, T, D) -> (B, H, T, D). Relative: q_p . k_r depends on p - r only, at any length."""
    T, D = x.shape[-2], x.shape[-1]
    inv = base ** (-torch.arange(0, D, 2, device=x.device, dtype=x.dtype) / D)  # (D/2,)
    angle = torch.arange(T, device=x.device, dtype=x.dtype)[:, None] * inv  # (T, D/2)
    cos, sin = angle.cos(), angle.sin()
    x1, x2 = x[..., : D // 2], x[..., D // 2:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


class Attention(nn.Module):
    """Multi-head self-attention (Vaswani 2017 §3.2.2), optional RoPE on queries and keys."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)

    def forward(self, h: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
        B, T, C = h.shape
        nh = self.cfg.n_heads
        q, k, v = self.qkv(h).view(B, T, 3, nh, C // nh).permute(2, 0, 3, 1, 4)  # each (B, nh, T, C/nh)
        if self.cfg.position == "rotary":
            q, k = rotate(q, self.cfg.rope_base), rotate(k, self.cfg.rope_base)
        drop = self.cfg.dropout if self.training else 0.0
        if self.cfg.causal:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=drop, is_causal=True)
        else:
            # key_mask (B, 1, 1, T): True = may be attended to; None = every key.
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask, dropout_p=drop)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))  # (B, T, C)


class Block(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.norm1 = nn.LayerNorm(cfg.d_model)
        self.attn = Attention(cfg)
        self.norm2 = nn.LayerNorm(cfg.d_model)
        self.ff = nn.Sequential(nn.Linear(cfg.d_model, cfg.d_ff), nn.GELU(), nn.Linear(cfg.d_ff, cfg.d_model))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, h: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
        if self.cfg.norm == "pre":
            h = h + self.drop(self.attn(self.norm1(h), key_mask))
            return h + self.drop(self.ff(self.norm2(h)))
        h = self.norm1(h + self.drop(self.attn(h, key_mask)))
        return self.norm2(h + self.drop(self.ff(h)))


def _sized(n_layers: int, d_model: int, lr: float = 3e-4) -> dict:
    return {"options": {"n_layers": n_layers, "d_model": d_model, "n_heads": 4, "d_ff": 4 * d_model},
            "train": {"lr": lr}}


PRESETS = {
    # No Transformer in Graves 2014: sizes chosen so the parameter count is within ~15% of the
    # paper's LSTM for the same task (Tables 1-3: 1.35M, 5.31M, 1.34M, 0.33M, 0.38M), at 3 layers
    # like the LSTM; ~12 d_model^2 parameters a layer. lr 3e-4 (Adam): the middle of
    # Delétang et al. 2023's grid {1e-4, 3e-4, 5e-4}.
    "graves2014": {
        "copy": _sized(3, 192),
        "repeat_copy": _sized(3, 384),
        "associative_recall": _sized(3, 192),
        "dynamic_ngrams": _sized(3, 96),
        "priority_sort": _sized(3, 96),
    },
    "tiny": {"*": {"options": {"n_layers": 2, "d_model": 16, "n_heads": 2, "d_ff": 32}}},
}


@register_model("transformer", config=TransformerConfig, presets=PRESETS,
                speed=(SpeedRow("transformer", note="2 x 64 (its defaults)"),))
class Transformer(nn.Module):
    def __init__(self, input_size: int, output_size: int, cfg: TransformerConfig = TransformerConfig()):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Linear(input_size, cfg.d_model)
        if cfg.position == "learned":
            self.positions = nn.Parameter(torch.randn(cfg.max_positions, cfg.d_model) * 0.02)  # GPT-2 init
        else:
            self.register_parameter("positions", None)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = nn.LayerNorm(cfg.d_model) if cfg.norm == "pre" else nn.Identity()
        self.readout = nn.Linear(cfg.d_model, output_size)

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, input_size) -> logits (B, T, output_size); valid (B, T) bool masks padding keys
        (bidirectional attention only; causal attention never looks ahead to padding)."""
        B, T, _ = x.shape
        h = self.embed(x)  # (B, T, C)
        if self.cfg.position == "learned":
            if T > self.cfg.max_positions:
                raise BenchError(f"transformer with learned positions takes at most max_positions="
                                 f"{self.cfg.max_positions} steps, got a sequence of {T}; "
                                 f"raise max_positions or use position rotary, sinusoidal or none")
            h = h + self.positions[:T]
        elif self.cfg.position == "sinusoidal":
            h = h + sinusoids(T, self.cfg.d_model, h)
        key_mask = None
        if valid is not None and not self.cfg.causal:
            keys = valid.to(device=x.device, dtype=torch.bool)
            keys = keys | ~keys.any(dim=1, keepdim=True)  # an all-padding row attends everywhere, not nowhere (NaN)
            key_mask = keys[:, None, None, :]  # (B, 1, 1, T)
        for block in self.blocks:
            h = block(h, key_mask)
        return self.readout(self.norm(h))  # (B, T, out)
