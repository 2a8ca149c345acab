"""Options of the Neural Turing Machine, and the paper's sizes per task (Graves 2014, Tables 1-3).

Every choice the paper leaves open is an option here, with the default we picked and why. Which
code computes the NTM (the readable step, or an accelerated path in `ops/`) is not an option of the
experiment but a runtime setting (`ops.BACKENDS`): it is not part of a run's identity.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from ntm_bench.errors import BenchError, choices
from ntm_bench.registry import SpeedRow


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
    # Clip the gradient with respect to every head weighting w_t elementwise to +-c at each step of
    # backpropagation through time, as Graves (2013, §2.1) clipped derivatives inside the backward
    # pass of his LSTMs. Not in the 2014 paper; 0 (default) = off. Sharpening multiplies a gradient
    # by up to ~gamma per step back through location-based addressing, so with gamma near its cap
    # (1 + softplus(head_clip) = 21) it can overflow float32 over a few dozen steps: what made the
    # feed-forward NTM diverge in graves2014-cpu (results/recipe-search, FF1).
    weighting_grad_clip: float = 0.0

    def __post_init__(self):
        for name in ("memory_rows", "memory_width", "read_heads", "write_heads", "controller_size",
                     "controller_layers"):
            if getattr(self, name) < 1:
                raise BenchError(f"NTM option {name!r} must be >= 1, got {getattr(self, name)!r}")
        if not self.shifts:
            raise BenchError("NTM option 'shifts' must list at least one allowed shift, e.g. -1,0,1")
        if len(set(self.shifts)) != len(self.shifts):
            raise BenchError(f"NTM option 'shifts' has duplicates: {list(self.shifts)}")
        if self.head_clip < 0 or self.output_clip < 0 or self.weighting_grad_clip < 0:
            raise BenchError("NTM options 'head_clip', 'output_clip' and 'weighting_grad_clip' must be >= 0 (0 = off)")
        if self.controller == "feedforward" and self.controller_layers != 1:
            raise BenchError("NTM option 'controller_layers' must be 1 with controller 'feedforward'")
        for name, allowed in (("controller", ("lstm", "feedforward")), ("order", ("read_first", "write_first")),
                              ("init_memory", ("constant", "learned", "random"))):
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


@dataclass(frozen=True)
class RetiredOptions:
    """Options NTMConfig had until the NTM's code path became a runtime setting (`ops.BACKENDS`,
    `--ntm-backend`). Older suite files, sweeps and records set them (results/recipe-search swept
    `native: [always, never]`), so they are still read, as a deprecated spelling of the backend for
    that run: they stay in the run's options (its run id and config hash stay as recorded) and
    choose its backend (`backend_from_retired`)."""
    note: ClassVar[str] = ("the NTM's code path is a runtime setting now (--ntm-backend or $NTM_BENCH_NTM_BACKEND: "
                           "auto, native, python, plain); native=never means python, always native, "
                           "fused=false plain, fused_sequence=false python.")
    native: Literal["auto", "always", "never"] = "auto"  # auto -> auto, always -> native, never -> python
    fused: bool = True  # False: the readable path (the per-step autograd graph it chose)
    fused_sequence: bool = True  # False: the python path (its per-step variant is gone; same equations)
    flush_denormals: bool = True  # always on for a CPU now; False cannot be honoured

    def __post_init__(self):
        if self.native not in ("auto", "always", "never"):
            raise BenchError(f"NTM option 'native': {self.native!r}; valid: always, auto, never")
        if not self.flush_denormals:
            raise BenchError("NTM option 'flush_denormals: false' is retired: the NTM always flushes subnormal "
                             "floats on a CPU now; remove the option")


def backend_from_retired(retired: RetiredOptions) -> dict:
    """The constructor's runtime arguments that the retired options ask for: {"backend": name}, or {}
    where they ask for what was the default (then the runtime setting decides, as for any run)."""
    if not retired.fused:
        return {"backend": "plain"}
    if not retired.fused_sequence:
        return {"backend": "python"}
    return {"always": {"backend": "native"}, "never": {"backend": "python"}}.get(retired.native, {})


# The NTM's rows in `python run_bench.py speed` (copy batches; ntm_bench/speed.py). Each accelerated
# path is compared with the one it replaces: native / python, python / plain.
_PLAIN, _PYTHON = {"NTM_BENCH_NTM_BACKEND": "plain"}, {"NTM_BENCH_NTM_BACKEND": "python"}
SPEED_ROWS = (
    SpeedRow("ntm", env={"NTM_BENCH_NTM_BACKEND": "auto"}, baseline="ntm_python", headline=True, solve=True,
             note="LSTM 100, 128 x 20, 1 + 1 heads; backend auto: the C++ kernels on a CPU"),
    SpeedRow("ntm_python", env=_PYTHON, baseline="ntm_plain", solve=True,
             note="the same NTM on the python path"),
    SpeedRow("ntm_plain", env=_PLAIN, note="the same NTM on the readable path (NTM.step under autograd)"),
    SpeedRow("ntm_sort", preset=("graves2014", "priority_sort"), env={"NTM_BENCH_NTM_BACKEND": "auto"},
             baseline="ntm_sort_python", note="graves2014 priority sort: LSTM 2 x 100, 5 + 5 heads"),
    SpeedRow("ntm_sort_python", preset=("graves2014", "priority_sort"), env=_PYTHON, baseline="ntm_sort_plain",
             note="the same, python path"),
    SpeedRow("ntm_sort_plain", preset=("graves2014", "priority_sort"), env=_PLAIN, note="the same, readable path"),
    SpeedRow("ntm_ff", preset=("graves2014_ff", "associative_recall"), env={"NTM_BENCH_NTM_BACKEND": "auto"},
             baseline="ntm_ff_python", note="graves2014_ff associative recall: feed-forward 256, 4 + 4 heads"),
    SpeedRow("ntm_ff_python", preset=("graves2014_ff", "associative_recall"), env=_PYTHON, baseline="ntm_ff_plain",
             note="the same, python path"),
    SpeedRow("ntm_ff_plain", preset=("graves2014_ff", "associative_recall"), env=_PLAIN,
             note="the same, readable path"),
)
