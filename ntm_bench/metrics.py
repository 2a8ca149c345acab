"""Per-sequence metrics on the scored (masked) steps.

- bits: binary cross-entropy in bits, summed over the scored target bits of a sequence (the paper's
  cost, "bits per sequence").
- bit_errors: scored bits whose thresholded prediction (p > 0.5) is wrong, per sequence.
- bit_accuracy: fraction of scored bits predicted right.
- seq_accuracy: 1 if every scored bit of the sequence is right, else 0 (exact match).
- excess_bits: bits minus the task's reference predictor's bits on the same sequence (N-grams:
  the Bayes-optimal predictor), where the task has one.

A task's `output_kind` picks how its outputs are read (`output_kind(task)`; the harness never looks
at a task's name): "bits" (the default: one sigmoid per output channel, the metrics above) or
"categorical" (one softmax over the output channels per step, the target one-hot: the
Chomsky-hierarchy tasks). For a categorical task the output unit is a symbol: bits is the
cross-entropy in bits summed over the scored steps, bit_errors counts wrong symbols (argmax),
bit_accuracy is the per-symbol accuracy, repeated as `accuracy` (Delétang et al. 2023's per-token
accuracy, the score of the chomsky suites), and seq_accuracy is exact match (every scored symbol
right). The field names stay the same so that checkpoint selection (fewest errors, then fewest
bits), early stopping and the learning curve work unchanged for both kinds. The categorical
training loss is the mean cross-entropy per scored symbol of each sequence (the benchmark's loss
averages over output positions), so `train_bits` in the curve is per symbol for these tasks.
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Callable

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


# ----------------------------------------------------------------------------------------------
# Categorical outputs (one softmax per step)

CATEGORICAL_METRICS = (*METRICS, "accuracy")


def categorical_nats(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy summed over the scored steps of each sequence, in nats: (B,).
    targets (B, T, K) one-hot on the scored steps."""
    ce = F.cross_entropy(logits.transpose(1, 2), targets.argmax(-1), reduction="none")  # (B, T)
    return (ce * mask.to(ce.dtype)).sum(dim=1)


def categorical_loss(logits, targets, mask) -> torch.Tensor:
    """The training loss: mean cross-entropy per scored symbol of each sequence, (B,)."""
    return categorical_nats(logits, targets, mask) / mask.sum(dim=1).clamp_min(1).to(logits.dtype)


def categorical_metrics(logits, targets, mask) -> dict[str, torch.Tensor]:
    """Each metric per sequence, shape (B,), float64 on CPU (module docstring)."""
    logits, targets = logits.detach().double(), targets.detach()
    bits = categorical_nats(logits, targets, mask) / LN2
    wrong = (logits.argmax(-1) != targets.argmax(-1)) & mask  # (B, T)
    errors = wrong.sum(dim=1).double()
    accuracy = 1 - errors / mask.sum(dim=1).double().clamp_min(1)
    return {"bits": bits.cpu(), "bit_errors": errors.cpu(), "bit_accuracy": accuracy.cpu(),
            "seq_accuracy": (errors == 0).double().cpu(), "accuracy": accuracy.cpu()}


@dataclass(frozen=True)
class OutputKind:
    """How a task's outputs are scored: loss (B,) per sequence for training, metrics per sequence,
    the metric names, and the map from logits to output probabilities (for pictures)."""
    name: str
    loss: Callable
    metrics: Callable
    names: tuple
    probabilities: Callable


KINDS = {
    "bits": OutputKind("bits", sequence_nats, sequence_metrics, METRICS, torch.sigmoid),
    "categorical": OutputKind("categorical", categorical_loss, categorical_metrics, CATEGORICAL_METRICS,
                              lambda logits: torch.softmax(logits, dim=-1)),
}


def output_kind(task) -> OutputKind:
    """The task's output kind (its `output_kind` attribute; "bits" when it has none)."""
    return KINDS[getattr(task, "output_kind", "bits")]
