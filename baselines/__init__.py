"""Baseline models: LSTM, Transformer and DNC (importing this package registers all three)."""
from baselines import dnc, lstm, transformer  # noqa: F401  (registers "dnc", "lstm" and "transformer")
