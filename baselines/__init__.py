"""Baseline models: LSTM and Transformer."""
