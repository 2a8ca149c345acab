"""Per-sequence metrics on the scored (masked) steps.

- bits: binary cross-entropy in bits, summed over the scored target bits of a sequence (the paper's
  cost, "bits per sequence").
- bit_errors: scored bits whose thresholded prediction (p > 0.5) is wrong, per sequence.
- bit_accuracy: fraction of scored bits predicted right.
- seq_accuracy: 1 if every scored bit of the sequence is right, else 0 (exact match).
- excess_bits: bits minus the task's reference predictor's bits on the same sequence (N-grams:
  the Bayes-optimal predictor), where the task has one.
"""
from __future__ import annotations

import inspect
import math

import torch
import torch.nn.functional as F

LN2 = math.log(2.0)
METRICS = ("bits", "bit_errors", "bit_accuracy", "seq_accuracy")


def sequence_nats(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """BCE summed over the scored bits of each sequence, in nats: (B,)."""
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")  # (B, T, out)
    return (bce * mask.unsqueeze(-1).to(bce.dtype)).sum(dim=(1, 2))


def sequence_metrics(logits, targets, mask) -> dict[str, torch.Tensor]:
    """Each metric per sequence, shape (B,), float64 on CPU."""
    logits, targets = logits.detach().double(), targets.detach().double()
    m = mask.unsqueeze(-1).expand_as(targets)
    bits = sequence_nats(logits, targets, mask) / LN2
    wrong = ((logits > 0) != (targets > 0.5)) & m
    errors = wrong.sum(dim=(1, 2)).double()
    scored = m.sum(dim=(1, 2)).double().clamp_min(1)
    return {
        "bits": bits.cpu(),
        "bit_errors": errors.cpu(),
        "bit_accuracy": (1 - errors / scored).cpu(),
        "seq_accuracy": (errors == 0).double().cpu(),
    }


def takes_valid(fn) -> bool:
    """Whether a model method accepts the `valid` mask (by name or through **kwargs)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "valid" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def call_model(model, inputs, valid):
    """The model contract: forward(x, valid=None), or forward(x) for models that take no mask."""
    if getattr(model, "_bench_takes_valid", None) is None:  # inspected once per model: a hot path
        model._bench_takes_valid = takes_valid(model.forward)
    if model._bench_takes_valid:
        return model(inputs, valid=valid)
    return model(inputs)
