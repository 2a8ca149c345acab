"""Algorithm fingerprints: two numbers per attention head that say how it moves over memory.

For a head's weighting w_t over N locations at step t (non-negative, summing to 1):

- entropy: the normalised Shannon entropy H(w_t) / log N = -sum_i w_t(i) log w_t(i) / log N
  (0 log 0 = 0), averaged over the steps the mask selects in the whole batch. 0 means all weight on
  one location (sharp, "pointer-like" addressing), 1 means uniform (no addressing at all).
  With N = 1 every weighting is one-hot: entropy 0.
- step_one: over consecutive pairs of selected steps (t-1, t) of one sequence, the fraction where
  the most-attended location (argmax) moves by exactly +1 or -1, circularly (mod N). A head that
  walks through memory one row per step, as a copy read head or a write head should
  (Graves 2014, §4.1, Fig. 6), scores near 1.
- stay: the fraction of such pairs where the argmax does not move.
- forward: the fraction of such pairs where it moves by exactly +1 (a subset of step_one).
- steps, pairs: how many steps and consecutive pairs the numbers average over.

A number that is undefined (no selected step, or no pair) is None, never NaN, so the result can
be written to JSON as it is.
"""
from __future__ import annotations

import math

import torch


def _head(w: torch.Tensor, mask: torch.Tensor) -> dict:
    """w (B, T, N), mask (B, T) bool -> the fingerprint of one head."""
    w = w.detach().to(torch.float64)
    w = w.clamp_min(0)
    w = w / w.sum(-1, keepdim=True).clamp_min(1e-300)              # (B, T, N), renormalised
    n = w.shape[-1]
    plogp = torch.where(w > 0, w * w.clamp_min(1e-300).log(), torch.zeros_like(w))
    ent = -plogp.sum(-1) / math.log(n) if n > 1 else torch.zeros(w.shape[:2], dtype=w.dtype, device=w.device)
    mask = mask.to(torch.bool)
    steps = int(mask.sum())
    arg = w.argmax(-1)                                              # (B, T)
    move = (arg[:, 1:] - arg[:, :-1]) % n                           # (B, T-1), circular shift of the argmax
    pair = mask[:, 1:] & mask[:, :-1]                               # both steps selected
    pairs = int(pair.sum())

    def frac(hit: torch.Tensor):
        return float((hit & pair).sum()) / pairs if pairs else None

    return {"entropy": float(ent[mask].mean()) if steps else None,
            "step_one": frac((move == 1) | (move == n - 1)) if n > 1 else frac(move != move),
            "stay": frac(move == 0),
            "forward": frac(move == 1) if n > 1 else frac(move != move),
            "steps": steps, "pairs": pairs}


def fingerprints(weights: dict, mask) -> dict[str, dict]:
    """Fingerprints of every head: `weights` maps a head name ("read0", "write0", ...) to its
    weightings (B, T, N); `mask` (B, T) bool selects the steps to count (one mask for all heads, or
    a dict head -> mask). Returns head -> {"entropy", "step_one", "stay", "forward", "steps", "pairs"}."""
    out = {}
    for head in sorted(weights):
        w = weights[head]
        m = mask[head] if isinstance(mask, dict) else mask
        if w.dim() == 2:  # (T, N): one sequence
            w, m = w.unsqueeze(0), m.unsqueeze(0)
        if w.shape[:2] != m.shape:
            raise ValueError(f"fingerprints: head {head!r} weights {tuple(w.shape)} do not match mask {tuple(m.shape)}")
        out[head] = _head(w, m.to(w.device))
    return out
