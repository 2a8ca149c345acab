"""The Neural Turing Machine (Graves, Wayne & Danihelka 2014, §3), registered as "ntm".

Per step t: the controller reads [x_t, r_{t-1}]; one Linear maps its output h_t to every head's
parameters; the heads address, read and write the memory; the output layer sees [h_t, r_t].
The recurrent state is explicit (`NTMState`), passed in and returned; the module keeps none.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ntm_bench.errors import BenchError
from ntm_bench.ntm import native
from ntm_bench.ntm.addressing import HeadLayout
from ntm_bench.ntm.config import PRESETS, NTMConfig
from ntm_bench.ntm.controller import FeedForwardController, LSTMController
from ntm_bench.ntm.memory import Heads, Memory
from ntm_bench.ntm.sequence import NTMSequence
from ntm_bench.registry import register_model


class NTMState(NamedTuple):
    memory: torch.Tensor  # (B, N, M)
    read_weights: torch.Tensor  # (B, R, N)
    write_weights: torch.Tensor  # (B, W, N)
    reads: torch.Tensor  # (B, R, M)
    controller: tuple  # LSTM: ((h, c) per layer), each (B, C); feed-forward: ()


@register_model("ntm", config=NTMConfig, presets=PRESETS)
class NTM(nn.Module):
    """NTM with an LSTM or feed-forward controller. forward(x (B,T,I)) -> logits (B,T,O)."""

    def __init__(self, input_size: int, output_size: int, cfg: NTMConfig | None = None):
        super().__init__()
        cfg = cfg or NTMConfig()
        self.cfg, self.input_size, self.output_size = cfg, input_size, output_size
        R, W, M = cfg.read_heads, cfg.write_heads, cfg.memory_width
        self.memory = Memory(cfg.memory_rows, M, R, W, cfg.init_memory, cfg.init_memory_value,
                             cfg.learned_init_state)
        if cfg.controller == "lstm":
            self.controller = LSTMController(input_size, R * M, cfg.controller_size, cfg.controller_layers)
        else:
            self.controller = FeedForwardController(input_size, R * M, cfg.controller_size,
                                                    cfg.feedforward_activation)
        layout = HeadLayout(M, R, W, tuple(cfg.shifts), cfg.key_activation == "tanh",
                            cfg.add_activation == "tanh", cfg.head_clip)
        self.heads = Heads(cfg.controller_size, layout, cfg.order == "read_first", cfg.fused)
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
        """One time step: x_t (B, I) -> (logits (B, O), new state)."""
        logits, state, _ = self.run(x_t.unsqueeze(1), state)
        return logits[:, 0], state

    def run(self, x: torch.Tensor, state: NTMState | None = None, record: bool = False,
            record_memory: bool = False):
        """x (B, T, I) -> (logits (B, T, O), final state, records).

        records: {"w": (B, T, H, N)} per-step weightings (read heads first) when `record`, and
        "memory": (B, T, N, M) when `record_memory`."""
        self._check_input(x)
        if self.cfg.flush_denormals and x.device.type == "cpu":
            torch.set_flush_denormal(True)  # see NTMConfig.flush_denormals
        B, T, _ = x.shape
        if state is None:
            state = self.initial_state(B, x)
        mem, reads, ctrl = state.memory, state.reads, state.controller
        w = torch.cat([state.read_weights, state.write_weights], 1)  # (B, H, N)
        shift = self.heads.prepare(mem.shape[1], x.device)
        fused, transposed = self.cfg.fused, self.heads.transposed
        if transposed:
            mem = mem.transpose(1, 2).contiguous()  # (B, M, N), see fused.MemoryStep
        xp = self.controller.project_inputs(x.transpose(0, 1))  # (T, B, 4C or C)
        ws, ms = [], []
        # The whole-sequence node keeps every step's memory for its backward: only worth it when
        # gradients are wanted; without them the step loop keeps one memory at a time.
        whole = self._whole_sequence() and not (record or record_memory)
        use_native = whole and native.usable(self.cfg.native, x.device, x.dtype)
        self.kernels = "native" if use_native else "python"  # which code ran last (records name it)
        if use_native or (whole and torch.is_grad_enabled()):
            C = self.cfg.controller_size
            # every LSTM layer's (h, c) as (L, B, C) each; a feed-forward controller has none
            h0 = torch.stack([h for h, _ in ctrl]) if ctrl else x.new_empty(0, B, C)
            c0 = torch.stack([c for _, c in ctrl]) if ctrl else x.new_empty(0, B, C)
            args = (self.heads.layout, self.controller.cell, xp, mem, w, reads, h0, c0, self.heads.proj.weight,
                    self.heads.proj.bias, *self.controller.sequence_weights())
            if not use_native:
                HR, mem, w, hs, cs = NTMSequence.apply(shift, *args)
            elif torch.is_grad_enabled():
                HR, mem, w, hs, cs = native.NativeSequence.apply(*args)
            else:  # nothing saved per step: memory does not grow with the length
                HR, mem, w, hs, cs = native.run_inference(*args)
            RM = reads.shape[1] * reads.shape[2]
            reads, ctrl = HR[-1, :, :RM].view(reads.shape), tuple(zip(hs, cs))
            # HR[t + 1] = [r_t, h_t]: the output layer's columns [h, r] swapped to match
            w_out = torch.cat([self.output.weight[:, C:], self.output.weight[:, :C]], 1)
            logits = F.linear(HR[1:], w_out, self.output.bias)
        else:
            hs, rs = [], []
            xp = xp.unbind(0)  # T x (B, 4C or C); not xp[t]: each select's backward fills a (T, B, .) zero
            for t in range(T):
                h, ctrl = self.controller.step(xp[t], reads.reshape(B, -1), ctrl, fused)
                mem, w, reads = self.heads.step(h, mem, w, shift)
                hs.append(h)
                rs.append(reads)
                if record:
                    ws.append(w)
                if record_memory:
                    ms.append(mem.transpose(1, 2) if transposed else mem)
            out = torch.cat([torch.stack(hs), torch.stack(rs).view(T, B, -1)], -1)  # (T, B, C + R*M)
            logits = self.output(out)
        if self.cfg.output_clip > 0:
            logits = logits.clamp(-self.cfg.output_clip, self.cfg.output_clip)  # Collier & Beel 2018
        R = self.cfg.read_heads
        if transposed:
            mem = mem.transpose(1, 2)
        final = NTMState(mem, w[:, :R], w[:, R:], reads, ctrl)
        records = {}
        if record:
            records["w"] = torch.stack(ws, 1)
        if record_memory:
            records["memory"] = torch.stack(ms, 1)
        return logits.transpose(0, 1), final, records

    def _whole_sequence(self) -> bool:
        """True when `run` can use `sequence.NTMSequence` (see NTMConfig.fused_sequence)."""
        cfg = self.cfg
        return cfg.fused and cfg.fused_sequence and cfg.order == "read_first"

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, I) -> logits (B, T, O). `valid` is ignored: padding is at the end."""
        return self.run(x)[0]

    def trace(self, x: torch.Tensor, valid: torch.Tensor | None = None, memory: bool = False):
        """(logits, {"read0": (B,T,N), ..., "write0": (B,T,N), ...[, "memory": (B,T,N,M)]})."""
        logits, _, rec = self.run(x, record=True, record_memory=memory)
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
