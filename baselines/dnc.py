"""The Differentiable Neural Computer (Graves et al. 2016, Nature 538), registered as "dnc".

Per step t (Methods): the LSTM controller reads [x_t, r^1_{t-1}, ..., r^R_{t-1}]; one Linear maps
its output h_t to the interface vector xi_t (W*R + 3W + 5R + 3 numbers, `dnc_memory.split_interface`);
the memory is then updated in the paper's order: usage (from the previous weightings and the free
gates), allocation, write weighting (allocation and content), write (erase, then add), precedence
and temporal links, read weightings (backward, content, forward modes), reads. The output is
y_t = W_y h_t + W_r [r^1_t; ...; r^R_t], one Linear over [h_t, r_t].

The recurrent state is explicit (`DNCState`), passed in and returned; the module keeps none. It
starts at zero everywhere (u_0 = 0, p_0 = 0, L_0 = 0 as in the paper; the memory, weightings and
reads at zero, as in DeepMind's release), so N can change freely: `set_memory_rows` makes the
memory larger (or smaller) for evaluation on long sequences. The link matrix is N x N per
sequence: its memory cost per step is B N^2 numbers (README, "The DNC").

Two code paths compute the same step: `_access` and the lines above it (readable torch, on
`dnc_memory.py`; also what runs on CUDA) and `dnc_native.Step` (one C++ node per step with a
hand-written backward, on a CPU; `DNCConfig.native`).
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Literal, NamedTuple, Optional

import torch
from torch import nn

from baselines import dnc_memory as mem
from baselines import dnc_native
from ntm_bench.errors import BenchError, choices
from ntm_bench.registry import SpeedRow, register_model


@dataclass(frozen=True)
class DNCConfig:
    # The 2016 paper has no copy or associative-recall experiment; the defaults are the NTM's copy
    # configuration (Graves 2014 §4 and Table 1: memory 128 x 20, LSTM 100, one read and one write
    # head), so that the two machines compare at equal memory, controller and heads. The DNC's one
    # write head is fixed, as in the paper. The `graves2016` preset has 4 read heads.
    memory_rows: int = 128  # N; Graves 2014 §4
    word_size: int = 20  # W; Graves 2014 §4
    read_heads: int = 1  # R; Graves 2014, Table 1 (copy): 1 head
    controller_size: int = 100  # LSTM units, one layer; Graves 2014, Table 1 (copy)
    # Clip the interface vector and the output logits to +-clip (DeepMind's release: 20; the paper
    # is silent). 0 turns clipping off.
    clip: float = 20.0
    # The link step on the C++ kernel (`dnc_native.py`; same equations, README "Speed"): "auto" when
    # it builds on a CPU, "always" (an error if not), "never" (the readable torch path).
    native: Literal["auto", "always", "never"] = "auto"
    # CPU: flush subnormal floats to zero while the DNC runs (torch.set_flush_denormal, as the NTM's
    # NTMConfig.flush_denormals). Link matrix entries decay by (1 - w[i] - w[j]) at every write and
    # become subnormal within a few dozen steps; every operation on them is ~30x slower.
    flush_denormals: bool = True
    # The most rows evaluation may give the memory (None: as many as a test point needs, as the NTM).
    # The link matrix is N x N, so a step costs O(N^2): 500-symbol Chomsky strings would need 1,500
    # rows, 140x the link work of 128 per step. With a cap the DNC keeps at most this many rows and
    # must reuse them through its free gates, as a fixed-size stack or tape does; every record's
    # `memory_rows` says how many it had.
    max_test_rows: Optional[int] = None

    def __post_init__(self):
        for name in ("memory_rows", "word_size", "read_heads", "controller_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise BenchError(f"dnc option {name!r} must be an integer >= 1, got {value!r}")
        if self.max_test_rows is not None and (not isinstance(self.max_test_rows, int) or
                                                self.max_test_rows < self.memory_rows):
            raise BenchError(f"dnc option 'max_test_rows' must be null or an integer >= memory_rows "
                             f"({self.memory_rows}), got {self.max_test_rows!r}")
        if self.clip < 0:
            raise BenchError(f"dnc option 'clip' must be >= 0 (0 = off), got {self.clip!r}")
        if self.native not in ("auto", "always", "never"):
            raise BenchError(f"dnc option 'native': {self.native!r}; valid: {choices(('auto', 'always', 'never'))}")


# The 2016 paper gives sizes for bAbI and the graph tasks, not for the 2014 tasks. graves2016: the
# NTM's graves2014 memory (128 x 20) and controller (LSTM 100), with the 4 read heads and the
# learning rate (1e-4) of DeepMind's released DNC example (dnc/train.py, repeat copy), every task.
PRESETS = {
    "graves2016": {"*": {"options": {"memory_rows": 128, "word_size": 20, "read_heads": 4, "controller_size": 100},
                         "train": {"lr": 1e-4}}},
    "tiny": {"*": {"options": {"memory_rows": 8, "word_size": 4, "read_heads": 2, "controller_size": 8}}},
}


class DNCState(NamedTuple):
    memory: torch.Tensor  # (B, N, W)
    usage: torch.Tensor  # (B, N)
    link: torch.Tensor  # (B, N, N)
    precedence: torch.Tensor  # (B, N)
    read_weights: torch.Tensor  # (B, R, N)
    write_weights: torch.Tensor  # (B, N)
    reads: torch.Tensor  # (B, R, W)
    controller: tuple  # (h, c), each (B, C)


def prepare(device: str = "cpu") -> None:
    """The harness's hook (register_model(prepare=...)): build the link step's C++ kernel once,
    before any run, so that no timed run pays for it; say so if it cannot be built."""
    if device == "cpu" and not dnc_native.available():
        print(f"note: the DNC's C++ link step is not available ({dnc_native._state.get('error')}); "
              f"the DNC uses its torch path", file=sys.stderr)


# speed rows (ntm_bench/speed.py): each against the NTM at the same sizes (its `speedups` give the
# DNC's rate over the NTM's; the target is at least 1/4 at batch 32)
SPEED_ROWS = (
    SpeedRow("dnc", baseline="ntm", note="the DNC at its defaults (the NTM's sizes: 128 x 20, LSTM 100, 1 read head)"),
    SpeedRow("dnc_graves2016", preset=("graves2016", "copy"), baseline="ntm", note="the DNC's graves2016 preset (4 read heads)"),
)


@register_model("dnc", config=DNCConfig, presets=PRESETS, prepare=prepare, speed=SPEED_ROWS)
class DNC(nn.Module):
    """DNC with a one-layer LSTM controller. forward(x (B,T,I)) -> logits (B,T,O)."""

    def __init__(self, input_size: int, output_size: int, cfg: DNCConfig | None = None):
        super().__init__()
        cfg = cfg or DNCConfig()
        self.cfg, self.input_size, self.output_size = cfg, input_size, output_size
        self.rows = cfg.memory_rows
        C, R, W = cfg.controller_size, cfg.read_heads, cfg.word_size
        bound = 1 / math.sqrt(C)  # torch's nn.LSTM initialisation
        self.w_x = nn.Parameter(torch.empty(4 * C, input_size).uniform_(-bound, bound))  # gates from x_t
        self.w_rh = nn.Parameter(torch.empty(4 * C, R * W + C).uniform_(-bound, bound))  # from [r_{t-1}, h_{t-1}]
        self.bias = nn.Parameter(torch.empty(4 * C).uniform_(-bound, bound))  # gate order [i, f, o, g]
        self.interface = nn.Linear(C, mem.interface_size(W, R))  # W_xi
        self.output = nn.Linear(C + R * W, output_size)  # [W_y, W_r] over [h_t, r_t]

    # --- memory size at evaluation -------------------------------------------------------
    @property
    def memory_rows(self) -> int:
        return self.rows

    def can_resize_memory(self) -> bool:
        return True  # nothing learned depends on N

    def set_memory_rows(self, rows: int) -> None:
        if int(rows) < 1:
            raise BenchError(f"dnc memory rows must be >= 1, got {rows}")
        cap = self.cfg.max_test_rows
        self.rows = int(rows) if cap is None else min(int(rows), cap)

    # --- recurrence ----------------------------------------------------------------------
    def initial_state(self, batch_size: int, like: torch.Tensor) -> DNCState:
        B, N, R, W, C = batch_size, self.rows, self.cfg.read_heads, self.cfg.word_size, self.cfg.controller_size
        z = like.new_zeros
        return DNCState(z(B, N, W), z(B, N), z(B, N, N), z(B, N), z(B, R, N), z(B, N), z(B, R, W),
                        (z(B, C), z(B, C)))

    def step(self, xp_t: torch.Tensor, state: DNCState, native: bool, norms: torch.Tensor | None = None):
        """One step from the input's gate pre-activations xp_t (B, 4C) -> (h_t (B, C), new state,
        row norms of the new memory). `norms`: those of state.memory if known (else computed)."""
        cfg = self.cfg
        B, C, R, W = xp_t.shape[0], cfg.controller_size, cfg.read_heads, cfg.word_size
        h, c = state.controller
        if native:  # the same step as one C++ node (dnc_native.Step)
            h, c, *access = dnc_native.Step.apply(cfg.clip, xp_t, h, c, state.memory, state.usage, state.link,
                                                  state.precedence, state.read_weights, state.write_weights,
                                                  state.reads, self.w_rh, self.interface.weight, self.interface.bias)
            return h, DNCState(*access, (h, c)), None
        gates = torch.addmm(xp_t, torch.cat([state.reads.reshape(B, R * W), h], 1), self.w_rh.t())  # (B, 4C)
        i, f, o = torch.sigmoid(gates[:, :3 * C]).chunk(3, 1)
        c = f * c + i * torch.tanh(gates[:, 3 * C:])
        h = o * torch.tanh(c)
        xi = self.interface(h)  # (B, W*R + 3W + 5R + 3)
        if cfg.clip > 0:
            xi = xi.clamp(-cfg.clip, cfg.clip)
        memory, usage, link, precedence, w_r, w_w, reads, norms = self._access(xi, state, norms)
        return h, DNCState(memory, usage, link, precedence, w_r, w_w, reads, (h, c)), norms

    def _access(self, xi: torch.Tensor, state: DNCState, norms: torch.Tensor | None):
        """The memory access of one step from the interface vector (the readable torch path)."""
        W, R = self.cfg.word_size, self.cfg.read_heads
        it = mem.split_interface(xi, W, R)
        # allocation and write (Methods, "Dynamic memory allocation", "Writing")
        usage = mem.usage_update(state.usage, state.write_weights, state.read_weights, it.free_gates)
        norms = mem.row_norms(state.memory) if norms is None else norms
        content_w = mem.content_weighting(state.memory, norms, it.write_key.unsqueeze(1),
                                          it.write_strength.unsqueeze(1))[:, 0]  # on M_{t-1}
        w_w = mem.write_weighting(mem.allocation_weighting(usage), content_w, it.allocation_gate, it.write_gate)
        memory = mem.write_memory(state.memory, w_w, it.erase, it.write_vector)
        # temporal links (L_t uses p_{t-1}) and reads of M_t (Methods, "Temporal memory linkage", "Reading")
        link, fwd, bwd = dnc_native.link_step(state.link, state.precedence, w_w, state.read_weights, False)
        precedence = mem.precedence_update(state.precedence, w_w)
        norms = mem.row_norms(memory)  # |M_t[i]|, (B, N)
        content_r = mem.content_weighting(memory, norms, it.read_keys, it.read_strengths)  # (B, R, N)
        w_r = mem.read_weighting(bwd, content_r, fwd, it.read_modes)
        reads = torch.bmm(w_r, memory)  # (B, R, W), r^i = M_t^T w^{r,i}
        return memory, usage, link, precedence, w_r, w_w, reads, norms

    def run(self, x: torch.Tensor, state: DNCState | None = None, record: bool = False):
        """x (B, T, I) -> (logits (B, T, O), final state, records). records (if `record`): "read"
        (B, T, R, N), "write" (B, T, N), "usage" (B, T, N) at every step."""
        if x.dim() != 3 or x.shape[-1] != self.input_size or x.shape[1] < 1:
            raise BenchError(f"DNC input must have shape (batch, time >= 1, {self.input_size}), got {tuple(x.shape)}")
        B, T, _ = x.shape
        state = self.initial_state(B, x) if state is None else state
        native = dnc_native.usable(self.cfg.native, x)
        if self.cfg.flush_denormals and x.device.type == "cpu":
            torch.set_flush_denormal(True)  # see DNCConfig.flush_denormals
        xp = torch.nn.functional.linear(x.transpose(0, 1), self.w_x, self.bias).unbind(0)  # T x (B, 4C)
        outs, rec, norms = [], {"read": [], "write": [], "usage": []}, None
        for t in range(T):
            h, state, norms = self.step(xp[t], state, native, norms)
            outs.append(torch.cat([h, state.reads.reshape(B, -1)], 1))  # [h_t, r_t]
            if record:
                rec["read"].append(state.read_weights)
                rec["write"].append(state.write_weights)
                rec["usage"].append(state.usage)
        logits = self.output(torch.stack(outs, 1))  # (B, T, O)
        if self.cfg.clip > 0:
            logits = logits.clamp(-self.cfg.clip, self.cfg.clip)
        records = {k: torch.stack(v, 1) for k, v in rec.items()} if record else {}
        return logits, state, records

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, I) -> logits (B, T, O). `valid` is ignored: padding is at the end."""
        return self.run(x)[0]

    def trace(self, x: torch.Tensor, valid: torch.Tensor | None = None):
        """(logits, {"read0": (B,T,N), ..., "write0": (B,T,N), "usage": (B,T,N)})."""
        logits, _, rec = self.run(x, record=True)
        # Every weighting is >= 0 in exact arithmetic (a link factor 1 - w[i] - w[j] >= 0 since the
        # write weighting sums to at most 1), but rounding can leave -1e-9 where the value is 0.
        rec = {k: v.clamp_min(0) for k, v in rec.items()}
        out = {f"read{i}": rec["read"][:, :, i] for i in range(self.cfg.read_heads)}
        out["write0"] = rec["write"]
        out["usage"] = rec["usage"]
        return logits, out
