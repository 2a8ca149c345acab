"""Baseline models: LSTM, Transformer, Stack-RNN and DNC (importing this package registers them)."""
from baselines import dnc, lstm, stack_rnn, transformer  # noqa: F401  (registers "dnc", "lstm", "stack_rnn", "transformer")
