"""The Neural Turing Machine (Graves, Wayne & Danihelka 2014, §3), registered as "ntm".

Per step t (`NTM.step`, the primitive): the controller reads [x_t, r_{t-1}]; one Linear maps its
output h_t to every head's parameters; the heads address, read and write the memory (eqs. 2-9);
the output layer sees [h_t, r_t]. The recurrent state is explicit (`NTMState`), passed in and
returned; the module keeps none. `run_steps` applies `step` over a sequence. The accelerated paths
in `ops/` replace `run_steps` behind the same signature; which one runs is a runtime setting
(`backend`, see `ops`), not part of the configuration.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from ntm_bench.errors import BenchError
from ntm_bench.ntm import ops
from ntm_bench.ntm.addressing import shift_index
from ntm_bench.ntm.config import PRESETS, SPEED_ROWS, NTMConfig, RetiredOptions, backend_from_retired
from ntm_bench.ntm.controller import FeedForwardController, LSTMController
from ntm_bench.ntm.heads import HeadLayout, Heads
from ntm_bench.ntm.memory import Memory
from ntm_bench.ntm.ops.native import native_sequence
from ntm_bench.ntm.ops.sequence import python_sequence
from ntm_bench.registry import register_model


class NTMState(NamedTuple):
    memory: torch.Tensor  # (B, N, M)
    read_weights: torch.Tensor  # (B, R, N)
    write_weights: torch.Tensor  # (B, W, N)
    reads: torch.Tensor  # (B, R, M)
    controller: tuple  # LSTM: ((h, c) per layer), each (B, C); feed-forward: ()


@register_model("ntm", config=NTMConfig, presets=PRESETS, prepare=ops.prepare, speed=SPEED_ROWS,
                retired=(RetiredOptions, backend_from_retired))
class NTM(nn.Module):
    """NTM with an LSTM or feed-forward controller. forward(x (B,T,I)) -> logits (B,T,O).

    backend: which code computes it ("auto", "native", "python", "plain"; `ops`), None for the
    runtime setting ($NTM_BENCH_NTM_BACKEND, else "auto"). `code_path` names the path the last
    call ran on ("native", "python" or "plain"): records name it."""

    def __init__(self, input_size: int, output_size: int, cfg: NTMConfig | None = None, backend: str | None = None):
        super().__init__()
        cfg = cfg or NTMConfig()
        self.cfg, self.input_size, self.output_size = cfg, input_size, output_size
        self.backend = ops.check_backend(backend) if backend is not None else None
        self.code_path: str | None = None
        R, W, M = cfg.read_heads, cfg.write_heads, cfg.memory_width
        self.memory = Memory(cfg.memory_rows, M, R, W, cfg.init_memory, cfg.init_memory_value,
                             cfg.learned_init_state)
        if cfg.controller == "lstm":
            self.controller = LSTMController(input_size, R * M, cfg.controller_size, cfg.controller_layers)
        else:
            self.controller = FeedForwardController(input_size, R * M, cfg.controller_size,
                                                    cfg.feedforward_activation)
        layout = HeadLayout(M, R, W, tuple(cfg.shifts), cfg.key_activation == "tanh",
                            cfg.add_activation == "tanh", cfg.head_clip, cfg.weighting_grad_clip)
        self.heads = Heads(cfg.controller_size, layout, cfg.order == "read_first")
        self.output = nn.Linear(cfg.controller_size + R * M, output_size)  # sees [h_t, r_t]

    # --- memory size at evaluation -------------------------------------------------------
    @property
    def memory_rows(self) -> int:
        return self.memory.rows

    def can_resize_memory(self) -> bool:
        """True unless the initial memory is learned (then its size is a parameter's size)."""
        return self.memory.can_resize()

    def set_memory_rows(self, rows: int) -> None:
        """Use N = rows from now on (e.g. longer test sequences); BenchError if not possible."""
        self.memory.set_rows(int(rows))

    # --- recurrence ----------------------------------------------------------------------
    def initial_state(self, batch_size: int, like: torch.Tensor) -> NTMState:
        memory, w, reads = self.memory.initial(batch_size, like)
        R = self.cfg.read_heads
        return NTMState(memory, w[:, :R], w[:, R:], reads, self.controller.initial_state(batch_size, like))

    def step(self, x_t: torch.Tensor, state: NTMState) -> tuple[torch.Tensor, NTMState]:
        """One time step (Graves 2014 §3): x_t (B, I) -> (logits (B, O), new state)."""
        B = x_t.shape[0]
        # controller input [x_t, r_{t-1}]; its output h_t (B, C)
        h, ctrl = self.controller.step(self.controller.project_inputs(x_t), state.reads.reshape(B, -1),
                                       state.controller)
        w_prev = torch.cat([state.read_weights, state.write_weights], 1)  # (B, H, N), read heads first
        index = shift_index(self.heads.layout.shifts, state.memory.shape[1], x_t.device)[0]
        memory, w, reads = self.heads.step(h, state.memory, w_prev, index)  # eqs. 2-9
        logits = self.clip(self.output(torch.cat([h, reads.reshape(B, -1)], 1)))  # from [h_t, r_t]
        R = self.cfg.read_heads
        return logits, NTMState(memory, w[:, :R], w[:, R:], reads, ctrl)

    def clip(self, logits: torch.Tensor) -> torch.Tensor:
        """Output logits clipped to +-output_clip (Collier & Beel 2018; 0 = off)."""
        c = self.cfg.output_clip
        return logits.clamp(-c, c) if c > 0 else logits

    def run(self, x: torch.Tensor, state: NTMState | None = None, record=()):
        """x (B, T, I) -> (logits (B, T, O), final state, records) on the backend's path.

        record: names of what to keep per step: "w" gives records["w"] (B, T, H, N), the weightings
        (read heads first), "memory" gives records["memory"] (B, T, N, M)."""
        self._check_input(x)
        if x.device.type == "cpu":
            # Sharpened weightings and their products produce subnormal floats all the time, and on a
            # CPU every op on them is ~30x slower; their value is negligible. A per-thread flag that stays on.
            torch.set_flush_denormal(True)
        if state is None:
            state = self.initial_state(x.shape[0], x)
        self.code_path = ops.select(self.backend, self.cfg, x, bool(record))
        sequence = {"plain": run_steps, "python": python_sequence, "native": native_sequence}[self.code_path]
        return sequence(self, x, state, tuple(record))

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, I) -> logits (B, T, O). `valid` is ignored: padding is at the end."""
        return self.run(x)[0]

    def trace(self, x: torch.Tensor, valid: torch.Tensor | None = None, memory: bool = False):
        """(logits, {"read0": (B,T,N), ..., "write0": (B,T,N), ...[, "memory": (B,T,N,M)]})."""
        logits, _, rec = self.run(x, record=("w", "memory") if memory else ("w",))
        R, W = self.cfg.read_heads, self.cfg.write_heads
        out = {f"read{i}": rec["w"][:, :, i] for i in range(R)}
        out.update({f"write{i}": rec["w"][:, :, R + i] for i in range(W)})
        if memory:
            out["memory"] = rec["memory"]
        return logits, out

    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 3 or x.shape[-1] != self.input_size or x.shape[1] < 1:
            raise BenchError(f"NTM input must have shape (batch, time >= 1, {self.input_size}), "
                             f"got {tuple(x.shape)}")


def run_steps(model: NTM, x: torch.Tensor, state: NTMState, record=()):
    """The readable sequence function, `model.step` over time: x (B, T, I), state -> (logits (B, T, O),
    final state, records {"w": (B, T, H, N), "memory": (B, T, N, M)} as named in `record`)."""
    ys, ws, ms = [], [], []
    for t in range(x.shape[1]):
        y, state = model.step(x[:, t], state)
        ys.append(y)
        if "w" in record:
            ws.append(torch.cat([state.read_weights, state.write_weights], 1))
        if "memory" in record:
            ms.append(state.memory)
    records = {"w": torch.stack(ws, 1)} if ws else {}
    if ms:
        records["memory"] = torch.stack(ms, 1)
    return torch.stack(ys, 1), state, records
