"""The NTM's "native" path: the whole-sequence recurrence in C++ (`kernels.cpp`), built on first use.

Why: after `sequence.py` (the "python" path) the NTM is still ~110 small torch ops per time step,
and on a CPU their per-op overhead, not the arithmetic, is most of a training step. `kernels.cpp` runs the
same recurrence (an LSTM controller of any number of layers or a feed-forward controller,
read-first heads) as plain loops per sequence, with only the controller's matmuls and vectorised
activations left to torch. Same equations, different float rounding; the tests
check it against the Python path and the literal equations in float64.

Build: the system's C++ compiler (`$CXX`, else g++, else c++) against this torch's headers, no
other tool. The library is cached under `$NTM_BENCH_CACHE` (default ~/.cache/ntm_bench), keyed by
the source, torch's version, the compiler and this CPU, so a machine compiles it once (~15-30 s)
and every later process only loads it. Built with -march=native: results are bitwise
reproducible on one machine, not across CPU models. Without a compiler, or if the build fails,
the backend "auto" warns once and uses the Python path; "native" raises (`ops.select`).
"""
from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import torch
from torch.autograd.function import once_differentiable

from ntm_bench.errors import BenchError

SOURCE = Path(__file__).with_name("kernels.cpp")
FLAGS = ["-O3", "-march=native", "-fno-math-errno", "-fopenmp-simd", "-std=c++20", "-shared", "-fPIC", "-w"]
_state: dict = {}  # "ok": bool, "error": str, "path": Path


def cache_dir() -> Path:
    """$NTM_BENCH_CACHE/kernels, else ~/.cache/ntm_bench/kernels, else (not writable) a temp folder."""
    if os.environ.get("NTM_BENCH_CACHE"):
        return Path(os.environ["NTM_BENCH_CACHE"]) / "kernels"
    home = Path.home() / ".cache" / "ntm_bench" / "kernels"
    try:
        home.mkdir(parents=True, exist_ok=True)
        if os.access(home, os.W_OK):
            return home
    except OSError:
        pass
    return Path(tempfile.gettempdir()) / f"ntm_bench-{os.getuid()}" / "kernels"


def _compiler() -> str | None:
    for name in (os.environ.get("CXX"), "g++", "c++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _cpu_id() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            lines = [ln for ln in f if ln.startswith(("model name", "flags"))]
        return "".join(sorted(set(lines)))
    except OSError:
        return platform.processor()


def _command(cxx: str, output: str, source: Path = SOURCE) -> list[str]:
    torch_dir = Path(torch.__file__).parent
    include = torch_dir / "include"
    return [cxx, *FLAGS, f"-D_GLIBCXX_USE_CXX11_ABI={int(torch._C._GLIBCXX_USE_CXX11_ABI)}", f"-I{include}",
            f"-I{include / 'torch' / 'csrc' / 'api' / 'include'}", str(source), f"-L{torch_dir / 'lib'}",
            "-ltorch_cpu", "-lc10", f"-Wl,-rpath,{torch_dir / 'lib'}", "-o", output]


def _target(cxx: str, source: Path = SOURCE, name: str = "ntm_kernels.so") -> Path:
    """Where the library for this source, torch version, compiler, flags and CPU lives in the cache
    (shared by every clone and environment on the machine). The DNC's C++ step uses it too."""
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    key = "\0".join([source.read_text(), torch.__version__, version, _cpu_id(), *FLAGS])
    return cache_dir() / hashlib.sha256(key.encode()).hexdigest()[:16] / name


def _build(cxx: str, target: Path, source: Path = SOURCE) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)  # concurrent builds: last rename wins
    os.close(fd)
    try:
        proc = subprocess.run(_command(cxx, tmp, source), capture_output=True, text=True)
        if proc.returncode != 0:  # the first error line is the one that says what is wrong
            lines = proc.stderr.strip().splitlines()
            first = next((ln for ln in lines if "error" in ln), lines[-1] if lines else "(no output)")
            raise RuntimeError(f"{cxx} failed: {first.strip()}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def available(announce=None) -> bool:
    """Build (once per machine) and load the kernels; False, with the reason in `error()`, if not.
    announce(message) is called before a build (it takes ~15-30 s)."""
    if "ok" not in _state:
        try:
            if sys.platform != "linux":
                raise RuntimeError(f"only built on Linux (this is {sys.platform})")
            cxx = _compiler()
            if cxx is None:
                raise RuntimeError("no C++ compiler found (set $CXX, or install g++)")
            target = _target(cxx)
            if not target.exists():
                if announce:
                    announce(f"building the NTM's C++ kernels into {target.parent} (once per machine, ~15-30 s)")
                _build(cxx, target)
            torch.ops.load_library(str(target))
            _state.update(ok=True, path=target)
        except Exception as e:  # noqa: BLE001 - any failure means: use the Python path
            _state.update(ok=False, error=f"{type(e).__name__}: {e}")
    return _state["ok"]


def prepare() -> None:
    """Build the kernels now if they are not built yet (saying so on stderr), so that no timed run
    pays for the build; if they cannot be built, say once that the NTM will use its Python path."""
    if not available(announce=lambda msg: print(msg, file=sys.stderr, flush=True)):
        print(f"note: the NTM's C++ kernels are not available ({error()}); NTM runs with backend 'auto' "
              f"use its slower Python path", file=sys.stderr)
        _state["warned"] = True  # said once is enough


def error() -> str:
    return _state.get("error", "")


def usable(required: bool, device: torch.device, dtype: torch.dtype) -> bool:
    """Whether the kernels can run this NTM (a CPU, float32/64, built); `required` (backend
    "native"): BenchError instead of False, and no warning."""
    if device.type != "cpu" or dtype not in (torch.float32, torch.float64):
        if required:
            raise BenchError(f"NTM backend 'native': the C++ kernels run on a CPU in float32/float64, "
                             f"not on {device.type} in {dtype}; use backend 'auto' or 'python'")
        return False
    if available():
        return True
    if required:
        raise BenchError(f"NTM backend 'native', but the C++ kernels are not available: {error()}")
    if not _state.get("warned"):
        warnings.warn(f"ntm_bench: the NTM's C++ kernels are not available ({error()}); using the slower "
                      f"Python path (--ntm-backend python silences this)", stacklevel=2)
        _state["warned"] = True
    return False


def _call(layout, cell, xp, Q, w, r0, h0, c0, weight, bias, cell_weights, save: bool) -> list:
    return torch.ops.ntm_bench.sequence_forward(
        xp.contiguous(), Q.contiguous(), w.contiguous(), r0.reshape(r0.shape[0], -1).contiguous(), h0.contiguous(),
        c0.contiguous(), weight.contiguous(), bias.contiguous(), [p.contiguous() for p in cell_weights],
        *_layout_args(layout), cell, save)


def _layout_args(layout) -> tuple:
    return (layout.read_heads, layout.write_heads, list(layout.shifts), layout.key_tanh, layout.add_tanh,
            float(layout.clip))


class NativeSequence(torch.autograd.Function):
    """`sequence.NTMSequence` on the C++ kernels: the same inputs (less the shifter) and outputs,
    HR (T + 1, B, R*M + C), the final Q (B, M, N) and w (B, H, N), and every LSTM layer's final
    h and c (L, B, C)."""

    @staticmethod
    def forward(ctx, layout, cell, xp, Q, w, r0, h0, c0, weight, bias, *cell_weights):
        HR, Qf, wf, hf, cf, *saved = _call(layout, cell, xp, Q, w, r0, h0, c0, weight, bias, cell_weights, save=True)
        ctx.layout, ctx.cell, ctx.r_shape, ctx.n_saved = layout, cell, r0.shape, len(saved)
        ctx.save_for_backward(weight, HR, *saved, *cell_weights)
        return HR, Qf, wf, hf, cf

    @staticmethod
    @once_differentiable
    def backward(ctx, d_HR, d_Q, d_w, d_h, d_c):
        weight, HR, *rest = ctx.saved_tensors
        saved, cell_weights = rest[:ctx.n_saved], [p.contiguous() for p in rest[ctx.n_saved:]]
        d_xp, d_Q0, d_w0, d_r0, d_h0, d_c0, d_weight, d_bias, *d_cell = torch.ops.ntm_bench.sequence_backward(
            d_HR, d_Q, d_w, d_h.contiguous(), d_c.contiguous(), weight.contiguous(), cell_weights, HR, *saved,
            *_layout_args(ctx.layout), float(ctx.layout.grad_clip), ctx.cell)
        if ctx.cell != "lstm":  # a feed-forward controller has no state
            d_h0 = d_c0 = None
        return (None, None, d_xp, d_Q0, d_w0, d_r0.view(ctx.r_shape), d_h0, d_c0, d_weight, d_bias, *d_cell)


def run_inference(layout, cell, xp, Q, w, r0, h0, c0, weight, bias, *cell_weights):
    """The forward without gradients and without saving anything per step: its memory does not
    grow with the length (evaluation)."""
    HR, Qf, wf, hf, cf, *_ = _call(layout, cell, xp, Q, w, r0, h0, c0, weight, bias, cell_weights, save=False)
    return HR, Qf, wf, hf, cf


def native_sequence(model, x, state, record: bool = False):
    """`ntm.run_steps` on the C++ kernels: x (B, T, I), state -> (logits (B, T, O) before the output
    clip, final state, {}). With gradients the kernels save what their backward needs; without,
    nothing per step (evaluation memory does not grow with the length). No traces (`record`)."""
    from ntm_bench.ntm.ops.sequence import sequence_args, sequence_outputs

    assert not record, "the kernels record no weightings: ops.select gives traces the python path"
    args = sequence_args(model, x, state)
    if torch.is_grad_enabled():
        out = NativeSequence.apply(*args)
    else:
        out = run_inference(*args)
    return sequence_outputs(model, state, *out)
