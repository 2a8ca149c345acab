"""The Neural Turing Machine (Graves, Wayne & Danihelka 2014); importing this registers "ntm".

Read `ntm.py` first (the model and its step), then `controller.py`, `heads.py`, `addressing.py`
(the equations) and `memory.py`; `config.py` holds the options. `ops/` holds the accelerated paths.
"""
from ntm_bench.ntm.config import NTMConfig
from ntm_bench.ntm.ntm import NTM, NTMState, run_steps

__all__ = ["NTM", "NTMConfig", "NTMState", "run_steps"]
