"""A Transformer encoder baseline (Vaswani et al. 2017) for the algorithmic tasks.

Graves 2014 has no Transformer; this is the modern baseline of the length-generalisation
literature (Delétang et al. 2023, reference §6). The encoder reads the whole input stream, the
blank output-phase steps included, and a linear read-out gives the logits at every step:

    x (B, T, in) -> Linear -> (+ positions) -> n_layers x [attention, feed-forward] -> Linear -> (B, T, out)

Choices (the paper is silent on all of them; each is a config option):
- attention is causal by default: every target of these tasks depends only on earlier inputs, so a
  causal encoder sees what the recurrent baselines see, no more; and padding (always at the end)
  can never reach a real step. With `causal=False` the attention is bidirectional and `valid`
  is the key padding mask, so padding still never changes a real step's output; the harness
  refuses it on tasks where a later input reveals an earlier target (`Task.noncausal_leak`: dynamic
  N-grams, repeat copy), as registered with `causal="causal"`.
- positions (baselines/positions.py): "rotary" by default (RoPE, Su et al. 2021: relative, no
  table, so it is defined at every length, which is what this benchmark tests); also "sinusoidal"
  (Vaswani 2017, §3.5), "learned" (a table of `max_positions` rows; rows beyond the training
  lengths stay untrained), "alibi" (Press et al. 2022: no embedding, a per-head linear penalty on
  the distance between query and key) and "none" (causal attention still carries an implicit
  sense of position).
- randomised positions (Ruoss et al. 2023), `randomised=True`, for any encoding but "none": in
  training each sequence of n steps is given n distinct positions drawn from 0..random_max_length-1
  and sorted, instead of 0..n-1, so every position up to random_max_length (and every distance) is
  trained on even though training sequences are short. At evaluation the positions are drawn the
  same way, as the authors' evaluation does (it applies the model with a fresh random key), but
  from a fixed seed per length (`random_eval_seed`): evaluation is reproducible and a sequence's
  positions do not depend on the other sequences in its batch.
- pre-norm by default (Xiong et al. 2020: trains stably without learning-rate warm-up);
  "post" is the original 2017 arrangement.
Attention is written out (so RoPE can act on queries and keys, and ALiBi's bias can be added)
around torch.nn.functional.scaled_dot_product_attention.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from baselines.positions import alibi_bias, alibi_slopes, random_positions, rotate, sinusoids
from ntm_bench.errors import BenchError
from ntm_bench.registry import SpeedRow, register_model

__all__ = ["Transformer", "TransformerConfig", "rotate", "sinusoids"]


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
    position: Literal["rotary", "sinusoidal", "learned", "alibi", "none"] = "rotary"  # Su et al. 2021
    max_positions: int = 1024  # "learned", not randomised: table size; copy at 120 needs T = 241 (reference §2)
    rope_base: float = 10000.0  # Su et al. 2021 (the same base as Vaswani's sinusoids)
    # "alibi" with causal=False only: keys before the query get +asymmetry * slope, so left and right
    # differ (Press et al. 2022 define the causal form only; 0.5 is Ruoss et al. 2023's code).
    alibi_asymmetry: float = 0.5
    randomised: bool = False  # Ruoss et al. 2023: ordered random positions (module docstring)
    # The range 0..L-1 the random positions come from; also the table size of randomised "learned".
    # 2048: the authors' code (randomized_positional_encodings, noise_max_length), about 4x the
    # protocol's longest test length (500, reference §6); at least the longest sequence the model sees.
    random_max_length: int = 2048
    random_eval_seed: int = 0  # the positions of an evaluation sequence of n steps come from this seed and n

    def __post_init__(self):
        for name in ("n_layers", "d_model", "n_heads", "d_ff", "max_positions", "random_max_length"):
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
        if self.randomised and self.position == "none":
            raise BenchError("transformer option 'randomised' randomises the positions of an encoding; with "
                             "position 'none' there is none: use position alibi, learned, rotary or sinusoidal")


class Attention(nn.Module):
    """Multi-head self-attention (Vaswani 2017 §3.2.2), optional RoPE on queries and keys."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)

    def forward(self, h: torch.Tensor, key_mask: torch.Tensor | None, positions: torch.Tensor | None = None,
                bias: torch.Tensor | None = None) -> torch.Tensor:
        """positions (B or 1, T): randomised positions for RoPE (None: 0..T-1); bias (B or 1, nh, T, T):
        ALiBi's, with the causal or padding mask in it (then it replaces both)."""
        B, T, C = h.shape
        nh = self.cfg.n_heads
        q, k, v = self.qkv(h).view(B, T, 3, nh, C // nh).permute(2, 0, 3, 1, 4)  # each (B, nh, T, C/nh)
        if self.cfg.position == "rotary":
            q, k = rotate(q, self.cfg.rope_base, positions), rotate(k, self.cfg.rope_base, positions)
        drop = self.cfg.dropout if self.training else 0.0
        if bias is not None:  # ALiBi: added to the scaled scores, q.k / sqrt(d) + bias (Press et al. 2022)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=drop)
        elif self.cfg.causal:
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

    def forward(self, h: torch.Tensor, key_mask: torch.Tensor | None, positions: torch.Tensor | None = None,
                bias: torch.Tensor | None = None) -> torch.Tensor:
        if self.cfg.norm == "pre":
            h = h + self.drop(self.attn(self.norm1(h), key_mask, positions, bias))
            return h + self.drop(self.ff(self.norm2(h)))
        h = self.norm1(h + self.drop(self.attn(h, key_mask, positions, bias)))
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


@register_model("transformer", config=TransformerConfig, presets=PRESETS, causal="causal",
                speed=(SpeedRow("transformer", note="2 x 64 (its defaults)"),))
class Transformer(nn.Module):
    def __init__(self, input_size: int, output_size: int, cfg: TransformerConfig = TransformerConfig()):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Linear(input_size, cfg.d_model)
        if cfg.position == "learned":
            rows = cfg.random_max_length if cfg.randomised else cfg.max_positions
            self.positions = nn.Parameter(torch.randn(rows, cfg.d_model) * 0.02)  # GPT-2 init
        else:
            self.register_parameter("positions", None)
        if cfg.position == "alibi":
            self.register_buffer("slopes", torch.tensor(alibi_slopes(cfg.n_heads)), persistent=False)  # (nh,)
        else:
            self.slopes = None
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = nn.LayerNorm(cfg.d_model) if cfg.norm == "pre" else nn.Identity()
        self.readout = nn.Linear(cfg.d_model, output_size)

    @property
    def max_steps(self) -> int | None:
        """The longest sequence it takes (model contract; None: any): the range of randomised
        positions, or the rows of a learned table."""
        if self.cfg.randomised:
            return self.cfg.random_max_length
        return self.cfg.max_positions if self.cfg.position == "learned" else None

    def position_indices(self, B: int, T: int, valid: torch.Tensor | None = None) -> torch.Tensor | None:
        """The positions of the steps: None for 0..T-1, else randomised ones (Ruoss et al. 2023), (B or
        1, T) long on the CPU. In training a fresh draw from torch's global generator (seeded by the
        harness and kept in its checkpoints); in evaluation a draw from random_eval_seed and the
        sequence's own length n (its real steps, from `valid`), the same for every batch."""
        if not self.cfg.randomised:
            return None
        L = self.cfg.random_max_length
        if T > L:
            raise BenchError(f"transformer with randomised positions draws a sequence's positions from "
                             f"0..random_max_length-1 = 0..{L - 1}, got a sequence of {T} steps; raise "
                             f"random_max_length to at least {T}")
        lengths = torch.full((B,), T) if valid is None else valid.sum(dim=1).cpu()  # (B,) real steps
        if self.training:
            return random_positions(lengths, T, L)
        distinct, which = lengths.unique(return_inverse=True)
        rows = torch.cat([random_positions(n[None], T, L, torch.Generator().manual_seed(
            self.cfg.random_eval_seed * 1_000_003 + int(n))) for n in distinct])  # (distinct lengths, T)
        return rows[:1] if len(distinct) == 1 else rows[which]  # (1 or B, T)

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, input_size) -> logits (B, T, output_size); valid (B, T) bool masks padding keys
        (bidirectional attention only; causal attention never looks ahead to padding)."""
        B, T, _ = x.shape
        h = self.embed(x)  # (B, T, C)
        positions = self.position_indices(B, T, valid)  # None, or (B or 1, T)
        if positions is not None:
            positions = positions.to(x.device)
        if self.cfg.position == "learned":
            if positions is not None:
                h = h + self.positions[positions]  # (B or 1, T, C)
            elif T > self.cfg.max_positions:
                raise BenchError(f"transformer with learned positions takes at most max_positions="
                                 f"{self.cfg.max_positions} steps, got a sequence of {T}; "
                                 f"raise max_positions or use position alibi, rotary, sinusoidal or none")
            else:
                h = h + self.positions[:T]
        elif self.cfg.position == "sinusoidal":
            h = h + sinusoids(T, self.cfg.d_model, h, positions)
        key_mask = None
        if valid is not None and not self.cfg.causal:
            keys = valid.to(device=x.device, dtype=torch.bool)
            keys = keys | ~keys.any(dim=1, keepdim=True)  # an all-padding row attends everywhere, not nowhere (NaN)
            key_mask = keys[:, None, None, :]  # (B, 1, 1, T)
        bias = None
        if self.slopes is not None:
            bias = alibi_bias(self.slopes.to(h.dtype), T, self.cfg.causal, self.cfg.alibi_asymmetry, positions)
            if key_mask is not None:  # padding keys: -inf, as the boolean mask would
                bias = bias.masked_fill(~key_mask, float("-inf"))  # (B, nh, T, T)
        for block in self.blocks:
            h = block(h, key_mask, positions, bias)
        return self.readout(self.norm(h))  # (B, T, out)
