"""The Neural Turing Machine (Graves, Wayne & Danihelka 2014); importing this registers "ntm"."""
from ntm_bench.ntm.config import NTMConfig
from ntm_bench.ntm.machine import NTM, NTMState

__all__ = ["NTM", "NTMConfig", "NTMState"]
