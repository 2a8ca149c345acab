"""Checkpoint and resume: the training loop's state, and last.pt, which holds it (docs/guarantees.md).

`TrainState` is everything the loop carries from one step to the next besides the model, the
optimiser and the random generators. `last.pt` holds a TrainState's fields together with the
states of those (`save`), under the run's config_hash; `load` gives them back for a resume, or
says in one line why the file cannot be used (the run then starts from step 0).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ntm_bench.records import atomic_torch_save

# Written beside the TrainState's fields (cuda_rng too, on CUDA devices).
LIVE_KEYS = ("config_hash", "model", "optimizer", "generator", "torch_rng")


@dataclass
class TrainState:
    step: int = 0                      # optimiser steps taken
    sequences: int = 0                 # training sequences seen
    wall_s: float = 0.0                # training time so far (a resumed run goes on counting)
    best_val: dict | None = None       # the best validation row's val_* metrics (evaluation.better)
    best_step: int | None = None
    lr: float = 0.0                    # the base learning rate (lowered by restarts after divergence)
    restarts: int = 0
    reinits: int = 0                   # new initialisations after a plateau (TrainConfig.reinit_after_sequences)
    attempt_from: int = 0              # the training sequence at which the current initialisation began
    best_state: dict | None = None     # the weights of the best validation so far: what gets tested
    good: dict | None = None           # the last good state, {"model", "step", "sequences"}: restarts go back to it
    loss_acc: float = 0.0              # training cost (bits) summed since the last curve row
    loss_n: int = 0                    # steps in loss_acc
    curve: list = field(default_factory=list)  # the curve rows so far (curve.jsonl is rewritten from them)


STATE_KEYS = tuple(f.name for f in dataclasses.fields(TrainState))
# Fields added after checkpoints existed: a last.pt without them resumes with their defaults.
LATER_STATE_KEYS = ("reinits", "attempt_from")


def save(path: Path, state: TrainState, config_hash: str, model, optimizer, generator: torch.Generator,
         device: torch.device) -> None:
    """Write last.pt atomically: the state and everything random that the rest of the run depends on
    (the data generator and torch's global RNG, for dropout)."""
    ckpt = {"config_hash": config_hash, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "generator": generator.get_state(), "torch_rng": torch.get_rng_state(),
            **{k: getattr(state, k) for k in STATE_KEYS}}
    if device.type == "cuda":
        ckpt["cuda_rng"] = torch.cuda.get_rng_state(device)
    atomic_torch_save(path, ckpt)


def load(path: Path, config_hash: str, run_id: str) -> tuple[dict | None, str | None]:
    """(the checkpoint, None) to resume from; (None, a line saying why not) for a file that cannot be
    used; (None, None) when there is none."""
    if not path.exists():
        return None, None
    try:  # weights_only: a results folder from elsewhere cannot run code on load
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - a torn or foreign checkpoint means start over, never crash
        return None, f"{run_id}/last.pt is unreadable ({type(e).__name__}); starting from step 0"
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in (*LIVE_KEYS, *STATE_KEYS)
                                                if k not in LATER_STATE_KEYS):
        return None, f"{run_id}/last.pt is not a checkpoint of this version; starting from step 0"
    if ckpt["config_hash"] != config_hash:
        return None, f"{run_id}/last.pt belongs to another config; starting from step 0"
    return ckpt, None


def restore(ckpt: dict, model, optimizer, generator: torch.Generator, device: torch.device) -> TrainState:
    """Put the checkpoint's model, optimiser and random states back; return its TrainState."""
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    generator.set_state(ckpt["generator"])
    torch.set_rng_state(ckpt["torch_rng"])
    if device.type == "cuda" and ckpt.get("cuda_rng") is not None:
        torch.cuda.set_rng_state(ckpt["cuda_rng"], device)
    state = TrainState(**{k: ckpt[k] for k in STATE_KEYS if k in ckpt})
    state.curve = list(state.curve)
    return state
