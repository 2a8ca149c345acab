"""Baseline models: LSTM and Transformer (importing this package registers both)."""
from baselines import lstm, transformer  # noqa: F401  (registers "lstm" and "transformer")
