"""The DNC's step in C++ (`dnc_kernels.cpp`), built on first use, beside the readable torch path.

Why: the readable path (`dnc.DNC._access` on `dnc_memory.py`) is ~100 small torch operations per
step, and its temporal link matrix is B x N x N numbers (N = 128, B = 32: 2 MiB in float32) that
~15 of them read and write in full. On a CPU that made the DNC ~10x slower to train than the NTM.
`Step` runs a whole step (the LSTM cell, the interface vector, usage, allocation with its sort,
write, links, precedence, read weightings and reads) as one autograd node with a hand-written
backward: plain loops per sequence, the link update and both directional weightings in one pass
over each row of L, its gradient in one more (recomputing L's row from L_{t-1} instead of reading
L_t), and the controller's matmuls left to torch (at::addmm). The link matrices come from a pool of
reused buffers, so that the ~2 MiB per step kept for the backward is not fresh memory every time.
Same equations, different float rounding: tests/test_dnc.py checks the kernel against the literal
equations, against the torch path (outputs and every parameter's gradient) and with gradcheck,
in float64. `LinkStep` is the link step alone (tested against `dnc_memory.link_update`).

Build: like the NTM's kernels (ntm_bench/ntm/native.py, whose compiler lookup, flags and cache
folder it shares): the system's C++ compiler against this torch's headers, cached per source,
torch version, compiler and CPU. `DNCConfig.native` chooses: "auto" (the kernel on a CPU in
float32/float64 when it builds, else the torch path with one warning), "always", "never".
"""
from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch.autograd.function import once_differentiable

from baselines import dnc_memory
from ntm_bench.errors import BenchError
from ntm_bench.ntm.ops import native as ntm_native

SOURCE = Path(__file__).with_name("dnc_kernels.cpp")
_state: dict = {}


def _target(cxx: str) -> Path:
    """The cached library of dnc_kernels.cpp (the NTM's build cache and compiler flags)."""
    return ntm_native._target(cxx, SOURCE, "dnc_kernels.so")


def _build(cxx: str, target: Path) -> None:
    ntm_native._build(cxx, target, SOURCE)


def available() -> bool:
    """Build (once per machine, ~10 s) and load the kernel; False, with the reason in `_state`, if not."""
    if "ok" not in _state:
        try:
            cxx = ntm_native._compiler()
            if cxx is None:
                raise RuntimeError("no C++ compiler found (set $CXX, or install g++)")
            target = _target(cxx)
            if not target.exists():
                _build(cxx, target)
            torch.ops.load_library(str(target))
            _state.update(ok=True)
        except Exception as e:  # noqa: BLE001 - any failure means: use the torch path
            _state.update(ok=False, error=f"{type(e).__name__}: {e}")
    return _state["ok"]


def usable(mode: str, x: torch.Tensor) -> bool:
    """Whether the DNC with option native=`mode` runs its link step on the kernel for inputs like x."""
    if mode == "never":
        return False
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        if mode == "always":
            raise BenchError(f"DNC option native='always': the C++ link kernel runs on a CPU in float32/float64, "
                             f"not on {x.device.type} in {x.dtype}; use native='auto' or 'never'")
        return False
    if available():
        return True
    if mode == "always":
        raise BenchError(f"DNC option native='always', but the C++ link kernel is not available: {_state['error']}")
    if not _state.get("warned"):
        warnings.warn(f"ntm_bench: the DNC's C++ link kernel is not available ({_state['error']}); using the "
                      f"slower torch path (DNC option native='never' silences this)", stacklevel=2)
        _state["warned"] = True
    return False


class LinkStep(torch.autograd.Function):
    """(L_{t-1} (B,N,N), p_{t-1} (B,N), w^w_t (B,N), w^r_{t-1} (B,R,N)) -> (L_t, f_t, b_t (B,R,N))."""

    @staticmethod
    def forward(ctx, link, precedence_prev, w, read_prev):
        args = [t.contiguous() for t in (link, precedence_prev, w, read_prev)]
        new, forward, backward = torch.ops.dnc_bench.link_forward(*args)
        ctx.save_for_backward(*args)
        return new, forward, backward

    @staticmethod
    @once_differentiable
    def backward(ctx, g_link, g_forward, g_backward):
        link, precedence_prev, w, read_prev = ctx.saved_tensors
        grads = [torch.zeros_like(t) if g is None else g.contiguous()
                 for g, t in ((g_link, link), (g_forward, read_prev), (g_backward, read_prev))]
        return tuple(torch.ops.dnc_bench.link_backward(*grads, link, precedence_prev, w, read_prev))


def link_step(link, precedence_prev, w, read_prev, native: bool):
    """(L_t, forward f_t, backward b_t) on the kernel (`native`) or the readable torch path."""
    if native:
        return LinkStep.apply(link, precedence_prev, w, read_prev)
    new = dnc_memory.link_update(link, precedence_prev, w)
    return (new, *dnc_memory.directional_weightings(new, read_prev))


class Step(torch.autograd.Function):
    """A whole DNC step on the kernel: the LSTM cell, the interface vector (clipped to +-clip) and
    the memory access, as one graph node; the same as `dnc.DNC.step`'s torch path.
    (xp_t (B, 4C), h, c, M, u, L, p, w^r, w^w, reads of t-1, w_rh, W_xi, b_xi) ->
    (h, c, M, u, L, p, w^r, w^w, reads of t)."""

    @staticmethod
    def forward(ctx, clip, xp, h, c, memory, usage, link, precedence, read_prev, write_prev, reads, w_rh, w_xi, b_xi):
        args = [t.contiguous() for t in (xp, h, c, memory, usage, link, precedence, read_prev, write_prev, reads,
                                         w_rh, w_xi, b_xi)]
        out = torch.ops.dnc_bench.step_forward(*args, float(clip))
        h1, c1, M, u, L, p, wr, ww, r, gates, xi_raw, aux = out
        ctx.clip = float(clip)
        ctx.save_for_backward(*args[1:12], h1, c1, M, u, wr, ww, gates, xi_raw, aux)  # L_t: not needed
        return h1, c1, M, u, L, p, wr, ww, r

    @staticmethod
    @once_differentiable
    def backward(ctx, *grads):
        saved = ctx.saved_tensors
        h0, c0, M0, u0, L0, p0, wr0, ww0, r0 = saved[:9]
        like = (h0, c0, M0, u0, L0, p0, wr0, ww0, r0)
        full = [torch.zeros_like(t) if g is None else g.contiguous() for g, t in zip(grads, like)]
        out = torch.ops.dnc_bench.step_backward(*full, *saved, ctx.clip)
        return (None, *out)
