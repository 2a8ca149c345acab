"""ntm-bench: Neural Turing Machines, LSTM and Transformer baselines on algorithmic tasks,
tested on sequences longer than any seen in training.

What a plugin file needs (README, "Adding a model" and "Adding a task"):

    from ntm_bench import Model, register_model            # a model (SpeedRow: its rows in `speed`)
    from ntm_bench import Batch, Task, register_task       # a task (and its helpers below)

`Task`, `Batch` and the helpers come from the top-level `tasks.base` module, `Model` from
`ntm_bench.contract`; both import torch, so they load on first use.
"""
from ntm_bench.errors import BenchError
from ntm_bench.registry import SpeedRow, register_model, register_task

_LAZY = {"Model": "ntm_bench.contract", "Task": "tasks.base", "Batch": "tasks.base", "Point": "tasks.base",
         "as_tuple": "tasks.base", "per_row": "tasks.base", "per_sample": "tasks.base", "random_bits": "tasks.base"}

__all__ = ["BenchError", "SpeedRow", "register_model", "register_task", *_LAZY]
__version__ = "0.1.0"


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ntm_bench' has no attribute {name!r}")
