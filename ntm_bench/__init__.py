"""ntm-bench: Neural Turing Machines, LSTM and Transformer baselines on algorithmic tasks,
tested on sequences longer than any seen in training."""
from ntm_bench.errors import BenchError
from ntm_bench.registry import register_model, register_task

__all__ = ["BenchError", "register_model", "register_task"]
__version__ = "0.1.0"
