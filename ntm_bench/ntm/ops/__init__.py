"""Accelerated paths of the NTM, beside the readable one (`ntm.py`), and the runtime choice between them.

Every path computes the same equations as the readable `NTM.step` applied over the sequence
(`ntm.run_steps`), behind the same signature, `fn(model, x, state, record) -> (logits, state,
records)`; they differ in float rounding only. `tests/test_ntm_paths.py` compares each with the
literal implementation of the equations (`tests/ntm_reference.py`), outputs and gradients.

- "plain": the readable model, `NTM.step` over time under autograd. Runs `order: write_first`,
  and traces that need gradients.
- "python" (`sequence.py`): the whole sequence as one autograd node with a hand-written backward
  over time (`step.py` holds one step's forward and backward); without gradients, a step loop of
  the same forward that keeps one memory at a time (evaluation, traces). What runs on CUDA.
- "native" (`native.py`, `kernels.cpp`): the same recurrence in C++ on a CPU, built once per
  machine with the system's compiler. Traces take the Python step loop (the kernels record nothing).

Which path runs is a runtime setting, never part of a run's configuration or identity: "auto"
(default: native where the kernels build, on a CPU, in float32/64; else python, with one warning if
the kernels do not build), "native" (an error where it cannot run), "python", "plain". It comes
from the model's `backend` argument, else `$NTM_BENCH_NTM_BACKEND` (which `--ntm-backend` sets for
the whole command, worker processes included), else "auto". Records name the path of training,
evaluation and traces (`env.code_path`).
"""
from __future__ import annotations

import os

import torch

from ntm_bench.errors import BenchError, choices
from ntm_bench.ntm.ops import native

BACKENDS = ("auto", "native", "python", "plain")
ENV_VAR = "NTM_BENCH_NTM_BACKEND"


def check_backend(name: str, where: str = "NTM backend") -> str:
    if name not in BACKENDS:
        raise BenchError(f"{where} {name!r}; valid: {choices(BACKENDS)}")
    return name


def default_backend() -> str:
    """The runtime setting: $NTM_BENCH_NTM_BACKEND, else "auto"."""
    return check_backend(os.environ.get(ENV_VAR) or "auto", where=f"${ENV_VAR}:")


def select(backend: str | None, cfg, x: torch.Tensor, record: bool) -> str:
    """The path ("plain", "python" or "native") that runs `backend` (None: the runtime default) for
    an NTM with config `cfg` on input x: the accelerated paths cover read-first heads; a trace
    with gradients takes the readable path, one without them the Python step loop."""
    backend = check_backend(backend) if backend is not None else default_backend()
    if backend == "plain" or cfg.order != "read_first" or (record and torch.is_grad_enabled()):
        return "plain"
    if backend == "python":
        return "python"
    usable = native.usable(backend == "native", x.device, x.dtype)
    return "python" if record or not usable else "native"


def prepare(device: str = "cpu") -> None:
    """The NTM's hook for the harness (`register_model(prepare=...)`): build the C++ kernels once,
    before any timed run, where the runtime setting may use them."""
    if device == "cpu" and default_backend() in ("auto", "native"):
        native.prepare()
