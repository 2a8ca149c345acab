"""NTM controllers (Graves 2014 §3): an LSTM or a feed-forward network.

The controller's input at step t is [x_t, r_{t-1}] (the external input and the previous reads).
The x_t part of the first layer does not depend on the recurrence, so it is projected for all
steps in one matmul before the loop (`project_inputs`); each step adds only the reads' part.
"""
from __future__ import annotations

import math

import torch
from torch import nn



def _uniform(shape, fan: int) -> nn.Parameter:
    bound = 1 / math.sqrt(fan)  # as torch's nn.LSTM / nn.Linear initialisation
    return nn.Parameter(torch.empty(shape).uniform_(-bound, bound))


class LSTMController(nn.Module):
    """A stack of LSTM layers, one bias per gate; layer l > 0 sees the layer below's output.

    Layer 0's weights are split into the external-input part `w_x` (4C, I) and the part for
    [reads, h] `w_rh` (4C, R*M + C); layer l > 0's `w_up[l - 1]` (4C, 2C) sees [h below, own h].
    Gate order [i, f, o, g]. Initial state: zeros.
    """

    cell = "lstm"  # how the whole-sequence path (`ops/`) names this controller

    def __init__(self, input_size: int, read_size: int, size: int, layers: int = 1):
        super().__init__()
        self.size, self.layers = size, layers
        self.w_x = _uniform((4 * size, input_size), size)
        self.w_rh = _uniform((4 * size, read_size + size), size)
        self.w_up = nn.ParameterList([_uniform((4 * size, 2 * size), size) for _ in range(layers - 1)])
        self.bias = nn.ParameterList([_uniform((4 * size,), size) for _ in range(layers)])

    @property
    def output_size(self) -> int:
        return self.size

    def initial_state(self, batch_size: int, like: torch.Tensor) -> tuple:
        z = like.new_zeros(batch_size, self.size)
        return tuple((z, z) for _ in range(self.layers))  # ((h, c) per layer)

    def project_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """x (T, B, I) -> first layer's gate pre-activations from the inputs, (T, B, 4C)."""
        return torch.nn.functional.linear(x, self.w_x, self.bias[0])

    def sequence_weights(self) -> list:
        """The weights the whole-sequence path uses in its time loop: [w_rh, w_up[0], bias[1],
        w_up[1], bias[2], ...] (bias[0] is in `project_inputs`)."""
        upper = [p for layer in range(1, self.layers) for p in (self.w_up[layer - 1], self.bias[layer])]
        return [self.w_rh, *upper]

    def step(self, xp: torch.Tensor, reads: torch.Tensor, state: tuple):
        """xp (B, 4C) from `project_inputs`, reads (B, R*M) -> (output (B, C), new state)."""
        h, c = state[0]
        h, c = lstm_cell(torch.addmm(xp, torch.cat([reads, h], 1), self.w_rh.t()), c)
        new = [(h, c)]
        for layer in range(1, self.layers):
            hl, cl = state[layer]
            gates = torch.addmm(self.bias[layer], torch.cat([h, hl], 1), self.w_up[layer - 1].t())
            h, c = lstm_cell(gates, cl)
            new.append((h, c))
        return h, tuple(new)


def lstm_cell(gates: torch.Tensor, c_prev: torch.Tensor):
    """The LSTM cell (Hochreiter & Schmidhuber 1997; Graves 2013, eqs. 7-11 without peepholes) from
    its pre-activation gates (B, 4C), laid out [i, f, o, g]: (h, c), each (B, C)."""
    C = c_prev.shape[1]
    i, f, o = torch.sigmoid(gates[:, :3 * C]).chunk(3, 1)
    c = f * c_prev + i * torch.tanh(gates[:, 3 * C:])
    return o * torch.tanh(c), c


class FeedForwardController(nn.Module):
    """One hidden layer: h_t = act(W [x_t, r_{t-1}] + b) (the paper's NTM-FF rows; no own state)."""

    _ACT = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid}

    def __init__(self, input_size: int, read_size: int, size: int, activation: str = "tanh"):
        super().__init__()
        self.size = size
        fan = input_size + read_size
        self.w_x = _uniform((size, input_size), fan)
        self.w_r = _uniform((size, read_size), fan)
        self.bias = _uniform((size,), fan)
        self.act = self._ACT[activation]
        self.cell = activation  # how the whole-sequence path names this controller

    @property
    def output_size(self) -> int:
        return self.size

    def initial_state(self, batch_size: int, like: torch.Tensor) -> tuple:
        return ()

    def project_inputs(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.linear(x, self.w_x, self.bias)  # (T, B, C)

    def sequence_weights(self) -> list:
        """The weights the whole-sequence path uses in its time loop (the bias is in `project_inputs`)."""
        return [self.w_r]

    def step(self, xp: torch.Tensor, reads: torch.Tensor, state: tuple):
        """xp (B, C) from `project_inputs`, reads (B, R*M) -> (output (B, C), ())."""
        return self.act(torch.addmm(xp, reads, self.w_r.t())), ()
