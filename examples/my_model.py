"""An example of a user's own model: one file, no change to the package.

    python run_bench.py run quick --plugin examples/my_model.py --models gru
"""
from dataclasses import dataclass

import torch
from torch import nn

from ntm_bench import register_model


@dataclass(frozen=True)
class GRUConfig:
    hidden_size: int = 128  # our choice: about the LSTM baseline's cost per step
    layers: int = 1


@register_model("gru", config=GRUConfig, presets={"tiny": {"*": {"options": {"hidden_size": 8}}}})
class GRU(nn.Module):
    def __init__(self, input_size: int, output_size: int, cfg: GRUConfig):
        super().__init__()
        self.rnn = nn.GRU(input_size, cfg.hidden_size, cfg.layers, batch_first=True)
        self.out = nn.Linear(cfg.hidden_size, output_size)

    def forward(self, x: torch.Tensor, valid=None) -> torch.Tensor:
        h, _ = self.rnn(x)   # (B, T, hidden); padding sits at the end, so it cannot reach real steps
        return self.out(h)   # (B, T, output_size) logits, one per output bit
