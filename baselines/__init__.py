"""Baseline models: LSTM, Transformer and Stack-RNN (importing this package registers them)."""
from baselines import lstm, stack_rnn, transformer  # noqa: F401  (registers "lstm", "stack_rnn", "transformer")
