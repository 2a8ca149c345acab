"""Options of the Neural Turing Machine, and the paper's sizes per task (Graves 2014, Tables 1-3).

Every choice the paper leaves open is an option here, with the default we picked and why.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ntm_bench.errors import BenchError, choices


@dataclass(frozen=True)
class NTMConfig:
    memory_rows: int = 128  # N; Graves 2014 §4: 128 x 20 in every experiment
    memory_width: int = 20  # M (word size); Graves 2014 §4
    read_heads: int = 1  # Graves 2014, Table 1 (copy): 1 head
    write_heads: int = 1  # Graves 2014, Table 1 (copy): 1 head
    controller: Literal["lstm", "feedforward"] = "lstm"  # Graves 2014 §3: LSTM or feed-forward
    controller_size: int = 100  # Graves 2014, Table 1 (copy)
    controller_layers: int = 1  # Graves 2014, Table 3 uses 2 x 100 for priority sort
    # Feed-forward controller nonlinearity: the paper does not say; tanh keeps the hidden layer
    # bounded like an LSTM's output.
    feedforward_activation: Literal["tanh", "relu", "sigmoid"] = "tanh"
    shifts: tuple[int, ...] = (-1, 0, 1)  # Graves 2014 §3.3.2: "usually -1, 0, +1"
    # Within one step, read heads may see the memory before this step's write ("read_first") or
    # after it ("write_first"). The paper is silent; Collier & Beel 2018, whose setup converged
    # reliably, read M_{t-1}, then write. "read_first" also lets all heads address in one batch.
    order: Literal["read_first", "write_first"] = "read_first"
    # Key and add activations: the paper is silent; Collier & Beel 2018 use tanh for both.
    key_activation: Literal["tanh", "linear"] = "tanh"
    add_activation: Literal["tanh", "linear"] = "tanh"
    # Initial memory: Collier & Beel 2018 found a small constant (1e-6 in every cell) converged
    # clearly faster than a learned or a random initial memory.
    init_memory: Literal["constant", "learned", "random"] = "constant"
    init_memory_value: float = 1e-6  # Collier & Beel 2018
    # Initial read vectors and weightings as learned biases, weightings through a softmax
    # (Collier & Beel 2018). False: zero reads and a one-hot weighting on row 0.
    learned_init_state: bool = True
    # Clip the controller-derived head parameters and the output logits to +-clip (Collier & Beel
    # 2018: +-20, no NaNs seen). 0 turns clipping off.
    head_clip: float = 20.0
    output_clip: float = 20.0
    # CPU: flush subnormal floats (< ~1e-38) to zero while the NTM runs (torch.set_flush_denormal,
    # a per-thread CPU flag that stays on). Sharpened weightings and their products produce
    # subnormals all the time, and every op on them is ~30x slower; their value is negligible.
    flush_denormals: bool = True
    # Hand-written backward for the LSTM controller and, with order="read_first", the memory step
    # (same numbers as autograd, far fewer graph nodes; tests check it against the equations).
    fused: bool = True
    # With fused and order="read_first" (an LSTM controller of any number of layers, or the
    # feed-forward one): the whole sequence is one graph node with a hand-written backward over
    # time (`sequence.py`; same numbers up to float rounding). False: one node per step and block
    # (the `fused.py` path).
    fused_sequence: bool = True
    # With fused_sequence on a CPU: run the recurrence on the C++ kernels (`native.py`, built once
    # per machine with the system's C++ compiler; 2.5x faster at batch 32 and 4.3x at batch 1,
    # README "Speed"; same equations, different float rounding). "auto": the kernels when they
    # build, else the Python path with one warning; "always": an error if they do not build;
    # "never": the Python path.
    native: Literal["auto", "always", "never"] = "auto"

    def __post_init__(self):
        for name in ("memory_rows", "memory_width", "read_heads", "write_heads", "controller_size",
                     "controller_layers"):
            if getattr(self, name) < 1:
                raise BenchError(f"NTM option {name!r} must be >= 1, got {getattr(self, name)!r}")
        if not self.shifts:
            raise BenchError("NTM option 'shifts' must list at least one allowed shift, e.g. -1,0,1")
        if len(set(self.shifts)) != len(self.shifts):
            raise BenchError(f"NTM option 'shifts' has duplicates: {list(self.shifts)}")
        if self.head_clip < 0 or self.output_clip < 0:
            raise BenchError("NTM options 'head_clip' and 'output_clip' must be >= 0 (0 = off)")
        if self.controller == "feedforward" and self.controller_layers != 1:
            raise BenchError("NTM option 'controller_layers' must be 1 with controller 'feedforward'")
        for name, allowed in (("controller", ("lstm", "feedforward")), ("order", ("read_first", "write_first")),
                              ("init_memory", ("constant", "learned", "random")),
                              ("native", ("auto", "always", "never"))):
            if getattr(self, name) not in allowed:
                raise BenchError(f"NTM option {name!r}: {getattr(self, name)!r}; valid: {choices(allowed)}")


def _paper(heads: int, size: int, lr: float, layers: int = 1, controller: str = "lstm") -> dict:
    return {"options": {"read_heads": heads, "write_heads": heads, "controller_size": size,
                        "controller_layers": layers, "controller": controller},
            "train": {"lr": lr}}


# "Heads" in Tables 1-3 is read as that many read heads and that many write heads.
PRESETS = {
    "graves2014": {  # NTM with LSTM controller: Graves 2014, Tables 1-3
        "copy": _paper(1, 100, 1e-4),
        "repeat_copy": _paper(1, 100, 1e-4),
        "associative_recall": _paper(1, 100, 1e-4),
        "dynamic_ngrams": _paper(1, 100, 3e-5),
        "priority_sort": _paper(5, 100, 3e-5, layers=2),
    },
    "graves2014_ff": {  # NTM with feed-forward controller: Graves 2014, Tables 1-3
        "copy": _paper(1, 100, 1e-4, controller="feedforward"),
        "repeat_copy": _paper(1, 100, 1e-4, controller="feedforward"),
        "associative_recall": _paper(4, 256, 1e-4, controller="feedforward"),
        "dynamic_ngrams": _paper(1, 100, 3e-5, controller="feedforward"),
        "priority_sort": _paper(8, 512, 3e-5, controller="feedforward"),
    },
    # A very small machine for fast tests, any task.
    "tiny": {"*": {"options": {"memory_rows": 8, "memory_width": 4, "controller_size": 8}}},
}

# Parameter counts printed in Graves 2014, Tables 1-3 (NTM-LSTM, NTM-FF), for comparison only.
PAPER_PARAMS = {
    "graves2014": {"copy": 67561, "repeat_copy": 66111, "associative_recall": 70330,
                   "dynamic_ngrams": 61749, "priority_sort": 269038},
    "graves2014_ff": {"copy": 17162, "repeat_copy": 16712, "associative_recall": 146845,
                      "dynamic_ngrams": 14656, "priority_sort": 508305},
}
