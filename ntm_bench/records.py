"""Writing run records safely: atomic files, appended curves, the environment stamp.

Every file that marks something complete is written to a temporary file in the same folder,
flushed, fsynced and renamed over its name, so a reader (or a crash) never sees half a file.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import subprocess
import tempfile
from pathlib import Path

import torch

from ntm_bench.errors import BenchError

SCHEMA = 1


def clean(value):
    """JSON-safe: NaN/inf become None (a NaN never reaches a table as a number), tensors become lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, torch.Tensor):
        return clean(value.tolist())
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def _disk_error(path: Path, e: OSError) -> BenchError:
    return BenchError(f"cannot write {str(path)!r}: {e.strerror or e} (disk full or not writable?)")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise _disk_error(path, e) from None


def atomic_write_json(path: Path, obj) -> None:
    atomic_write_bytes(path, (json.dumps(clean(obj), indent=2, sort_keys=False) + "\n").encode())


def atomic_torch_save(path: Path, obj) -> None:
    import io

    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def append_jsonl(path: Path, row: dict) -> None:
    try:
        with open(path, "a") as f:
            f.write(json.dumps(clean(row)) + "\n")
            f.flush()
    except OSError as e:
        raise _disk_error(path, e) from None


def read_jsonl(path: Path) -> list[dict]:
    """Rows of a JSON-lines file; a torn last line (a crash mid-append) is dropped."""
    rows = []
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return rows
    for line in text.splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return rows


def read_summary(run_dir: Path) -> dict | None:
    """The run's summary if it is complete and readable, else None."""
    try:
        data = json.loads((Path(run_dir) / "summary.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError, IsADirectoryError):
        return None
    return data if isinstance(data, dict) and data.get("schema") == SCHEMA else None


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _git_commit() -> str | None:
    here = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    commit = out.stdout.strip()
    dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, timeout=5).stdout.strip()
    return commit + ("-dirty" if dirty else "")


_ENV_CACHE: dict = {}


def environment(device: str) -> dict:
    """Package versions, device and determinism settings, stamped on every record."""
    if not _ENV_CACHE:
        import numpy
        import pandas

        cpu = platform.processor() or platform.machine()
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        _ENV_CACHE.update({
            "python": platform.python_version(), "torch": torch.__version__.split("+")[0],
            "torch_build": torch.__version__, "numpy": numpy.__version__, "pandas": pandas.__version__,
            "platform": platform.platform(), "cpu": cpu, "git_commit": _git_commit(),
        })
    env = dict(_ENV_CACHE)
    env["device"] = device
    if device.startswith("cuda") and torch.cuda.is_available():
        env["device_name"] = torch.cuda.get_device_name(torch.device(device))
    else:
        env["device_name"] = env["cpu"]
    env["threads"] = torch.get_num_threads()
    env["deterministic"] = torch.are_deterministic_algorithms_enabled()
    return env
