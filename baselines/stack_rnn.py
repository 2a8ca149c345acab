"""A Stack-RNN baseline: Joulin & Mikolov 2015 ("Inferring algorithmic patterns with stack-augmented
recurrent nets"), in the form Delétang et al. 2023 ("Neural networks and the Chomsky hierarchy") use.

A recurrent controller reads its input and the top of a differentiable stack; from its new hidden
state it chooses, by a softmax, how much to push, pop or leave the stack (no-op), and what vector to
push. The new stack is the convex combination of the three outcomes (Joulin & Mikolov 2015, §3.1):

    h_t       = tanh(W_x x_t + W_h h_{t-1} + W_s s_{t-1}[0] + b)     # reads the top of the old stack
    a_t       = softmax(A h_t) = (push, pop, no-op)                    # (B, 3)
    v_t       = D h_t                                                  # the vector a push puts on top
    s_t[0]    = push * v_t         + pop * s_{t-1}[1]   + no-op * s_{t-1}[0]
    s_t[i]    = push * s_{t-1}[i-1] + pop * s_{t-1}[i+1] + no-op * s_{t-1}[i]     (i >= 1)
    y_t       = V relu(h_t)                                            # the logits

with s[0] the top; a push lets the bottom element fall off and a pop brings zeros in at the bottom.
The stack and the hidden state start at zero for every sequence. Following Delétang et al. (their
code, models/stack_rnn.py and models/rnn.py): a plain tanh RNN controller, one stack of vectors whose
top is read (Joulin & Mikolov read the top k of scalar stacks), the pushed vector linear in h_t
(Joulin & Mikolov squash it with a sigmoid) and the read-out a linear layer on relu(h_t).
Our choice: one bias in the controller (b), where their RNN has one per linear map; the two are the
same function. The stack is fixed in size, at training and evaluation alike.

The model is causal and episodic; padding (only at the end of a sequence) never reaches a real step.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from ntm_bench.errors import BenchError
from ntm_bench.registry import register_model

PUSH, POP, NO_OP = 0, 1, 2  # the order of the actions in a_t


@dataclass(frozen=True)
class StackRNNConfig:
    hidden_size: int = 256  # the controller size used with Delétang et al. 2023's code (as for their RNN/LSTM)
    stack_size: int = 30  # Delétang et al. 2023, models/stack_rnn.py (StackRNNCore's default)
    element_size: int = 8  # the stack cell size used with Delétang et al. 2023's code

    def __post_init__(self):
        for name in ("hidden_size", "stack_size", "element_size"):
            if getattr(self, name) < 1:
                raise BenchError(f"stack_rnn option {name!r} must be at least 1, got {getattr(self, name)}")


class StackState(NamedTuple):
    hidden: torch.Tensor  # (B, H): the controller's h_t
    stack: torch.Tensor  # (B, S, M): s_t, row 0 the top


def update_stack(stack: torch.Tensor, actions: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """Joulin & Mikolov 2015, §3.1: the convex combination of push, pop and no-op.

    stack (B, S, M), actions (B, 3) = (push, pop, no-op) summing to 1, value (B, M) -> (B, S, M)."""
    push, pop, no_op = (actions[:, k, None, None] for k in (PUSH, POP, NO_OP))  # each (B, 1, 1)
    pushed = torch.cat([value[:, None, :], stack[:, :-1]], dim=1)  # every element one down, v on top
    popped = torch.cat([stack[:, 1:], torch.zeros_like(stack[:, :1])], dim=1)  # every element one up
    return push * pushed + pop * popped + no_op * stack


PRESETS = {
    # Very small, for fast tests.
    "tiny": {"*": {"options": {"hidden_size": 8, "stack_size": 6, "element_size": 2}}},
}


@register_model("stack_rnn", config=StackRNNConfig, presets=PRESETS)
class StackRNN(nn.Module):
    def __init__(self, input_size: int, output_size: int, cfg: StackRNNConfig = StackRNNConfig()):
        super().__init__()
        self.cfg = cfg
        H, M = cfg.hidden_size, cfg.element_size
        self.input = nn.Linear(input_size, H)  # W_x and the controller's bias b
        self.recurrent = nn.Linear(H, H, bias=False)  # W_h
        self.read = nn.Linear(M, H, bias=False)  # W_s: the top of the stack into the controller
        self.actions = nn.Linear(H, 3)  # A: push, pop, no-op logits
        self.push_value = nn.Linear(H, M)  # D
        self.readout = nn.Linear(H, output_size)  # V

    def initial_state(self, x: torch.Tensor) -> StackState:
        """Zero hidden state and an empty (all-zero) stack, on x's device and dtype."""
        B = x.shape[0]
        return StackState(x.new_zeros(B, self.cfg.hidden_size),
                          x.new_zeros(B, self.cfg.stack_size, self.cfg.element_size))

    def step(self, x_in: torch.Tensor, state: StackState) -> tuple[torch.Tensor, StackState]:
        """One step from the input projection x_in = W_x x_t + b (B, H): (h_t, new state)."""
        h = torch.tanh(x_in + self.recurrent(state.hidden) + self.read(state.stack[:, 0]))  # (B, H)
        actions = torch.softmax(self.actions(h), dim=-1)  # (B, 3)
        stack = update_stack(state.stack, actions, self.push_value(h))  # (B, S, M)
        return h, StackState(h, stack)

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, input_size) -> logits (B, T, output_size). `valid` is unused (padding is last)."""
        x_in = self.input(x)  # (B, T, H), for all steps at once
        state = self.initial_state(x)
        hs = []
        for t in range(x.shape[1]):
            h, state = self.step(x_in[:, t], state)
            hs.append(h)
        return self.readout(torch.relu(torch.stack(hs, dim=1)))  # (B, T, H) -> (B, T, out)
