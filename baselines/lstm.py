"""LSTM baselines of Graves, Wayne & Danihelka 2014 (§4, Tables 1-3).

Two layouts, chosen by `LSTMConfig.layout`:

- "graves": the paper's deep LSTM (Graves 2013, §2; reference §3). The input feeds every layer,
  every layer feeds the output layer, each gate has one bias, and the initial state (h0 and c0 of
  every layer) is learned. Layer k reads [x_t, h^{k-1}_t]; since layer k-1 has already run over
  the whole sequence, each layer is a single nn.LSTM call over time (fast, no Python loop over
  steps). With 10 inputs, 9 outputs and 3 x 256 it has exactly the paper's 1,352,969 parameters.
- "stack": the everyday stack, torch's multi-layer nn.LSTM with a linear read-out of the top layer.
  It keeps torch's two biases per gate (b_ih and b_hh), so its parameter count is not the paper's.

One bias per gate, honestly: torch's nn.LSTM either carries two biases per gate or none. The
"graves" layout builds its layers without bias and appends a constant-one channel to each layer's
input, so the last column of `weight_ih` is the one trainable bias of each gate (4H numbers a layer).

The model is episodic: the state starts from (learned) h0, c0 at the start of every sequence.
Padding is at the end of a sequence, so it never reaches a real step and `valid` is not needed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from ntm_bench.errors import BenchError
from ntm_bench.registry import SpeedRow, register_model


@dataclass(frozen=True)
class LSTMConfig:
    layers: int = 3  # Graves 2014, §4 / Tables 1-3: every LSTM baseline has 3 layers
    hidden_size: int = 256  # Graves 2014, Table 1 (copy): 3 x 256
    layout: Literal["graves", "stack"] = "graves"  # Graves 2014 (reference §3): the deep-LSTM layout
    learned_init: bool = True  # Graves 2014 (reference §3): learned initial state h0, c0 per layer
    # The paper is silent on the bias initialisation; a forget-gate bias of 1 is the common remedy
    # for early vanishing gradients (Gers et al. 2000; Jozefowicz et al. 2015). 0 gives torch's init.
    forget_bias: float = 1.0

    def __post_init__(self):
        if self.layers < 1:
            raise BenchError(f"lstm option 'layers' must be at least 1, got {self.layers}")
        if self.hidden_size < 1:
            raise BenchError(f"lstm option 'hidden_size' must be at least 1, got {self.hidden_size}")


def _paper(size: int, lr: float) -> dict:
    return {"options": {"layers": 3, "hidden_size": size, "layout": "graves"}, "train": {"lr": lr}}


PRESETS = {
    # Graves 2014, Tables 1-3, LSTM column: size and learning rate per task.
    "graves2014": {
        "copy": _paper(256, 3e-5),
        "repeat_copy": _paper(512, 3e-5),
        "associative_recall": _paper(256, 1e-4),
        "dynamic_ngrams": _paper(128, 1e-4),
        "priority_sort": _paper(128, 3e-5),
    },
    # Very small, for fast tests; keeps the graves layout so the tests exercise its wiring.
    "tiny": {"*": {"options": {"layers": 2, "hidden_size": 8, "layout": "graves"}}},
}


@register_model("lstm", config=LSTMConfig, presets=PRESETS,
                speed=(SpeedRow("lstm", note="3 x 256, graves layout (its defaults)"),))
class LSTM(nn.Module):
    def __init__(self, input_size: int, output_size: int, cfg: LSTMConfig = LSTMConfig()):
        super().__init__()
        self.cfg = cfg
        L, H = cfg.layers, cfg.hidden_size
        if cfg.layout == "graves":
            # Layer k sees [x, h^{k-1}, 1]: input, the layer below (k > 0), the bias channel.
            self.layers = nn.ModuleList(
                nn.LSTM(input_size + (H if k > 0 else 0) + 1, H, bias=False, batch_first=True)
                for k in range(L))
            self.readout = nn.Linear(L * H, output_size)  # every layer feeds the output
        else:
            self.layers = nn.ModuleList([nn.LSTM(input_size, H, num_layers=L, batch_first=True)])
            self.readout = nn.Linear(H, output_size)  # the top layer only
        if cfg.learned_init:
            self.h0 = nn.Parameter(torch.zeros(L, H))  # (L, H)
            self.c0 = nn.Parameter(torch.zeros(L, H))  # (L, H)
        else:
            self.register_parameter("h0", None)
            self.register_parameter("c0", None)
        self._init_forget_bias()

    @torch.no_grad()
    def _init_forget_bias(self) -> None:
        H = self.cfg.hidden_size
        forget = slice(H, 2 * H)  # torch's gate order: input, forget, cell, output
        for lstm in self.layers:
            if self.cfg.layout == "graves":
                lstm.weight_ih_l0[forget, -1] = self.cfg.forget_bias  # the bias column
            else:
                for k in range(self.cfg.layers):
                    getattr(lstm, f"bias_ih_l{k}")[forget] = self.cfg.forget_bias
                    getattr(lstm, f"bias_hh_l{k}")[forget] = 0.0

    def _initial_state(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(h0, c0), each (L, B, H): learned or zero, on x's device and dtype."""
        B = x.shape[0]
        L, H = self.cfg.layers, self.cfg.hidden_size
        if self.h0 is None:
            zeros = x.new_zeros(L, B, H)
            return zeros, zeros
        h0 = self.h0.to(x.dtype)[:, None, :].expand(L, B, H).contiguous()
        c0 = self.c0.to(x.dtype)[:, None, :].expand(L, B, H).contiguous()
        return h0, c0

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, input_size) -> logits (B, T, output_size). `valid` is unused (padding is last)."""
        h0, c0 = self._initial_state(x)  # (L, B, H) each
        if self.cfg.layout == "stack":
            top, _ = self.layers[0](x, (h0, c0))  # (B, T, H)
            return self.readout(top)
        ones = x.new_ones(*x.shape[:2], 1)  # (B, T, 1): the bias channel
        below = None
        outputs = []
        for k, lstm in enumerate(self.layers):  # over layers, not time: each call runs all T steps
            parts = [x] if below is None else [x, below]
            below, _ = lstm(torch.cat(parts + [ones], dim=-1), (h0[k:k + 1], c0[k:k + 1]))  # (B, T, H)
            outputs.append(below)
        return self.readout(torch.cat(outputs, dim=-1))  # (B, T, L*H) -> (B, T, out)
