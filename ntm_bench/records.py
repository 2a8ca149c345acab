"""Writing run records safely: atomic files, appended curves, the environment stamp.

Every file that marks something complete is written to a temporary file in the same folder,
flushed, fsynced and renamed over its name, so a reader (or a crash) never sees half a file.
A run folder is owned by one process at a time through a lock file (`RunLock`). A disk that is
full or not writable is a BenchError naming the file.

Fault injection for the tests (`NTM_BENCH_FAULT`, comma-separated; NAME matches a file name prefix,
`@K` picks the K-th matching write of the process, default the first):
- `kill_in_write:NAME[@K]`: SIGKILL this process after the temp file is written, before the rename;
- `enospc:NAME[@K]`: that write and every later matching one fails with ENOSPC (a disk that fills up).
"""
from __future__ import annotations

import datetime as _dt
import errno
import json
import math
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from ntm_bench.errors import BenchError
from ntm_bench.run_record import SCHEMA


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


_FAULT_COUNTS: dict = {}
_UMASK = os.umask(0o022)
os.umask(_UMASK)
_FILE_MODE = 0o666 & ~_UMASK


def _fault(stage: str, path: Path) -> None:
    """Test hook (see module docstring): act if NTM_BENCH_FAULT names this stage and file."""
    spec = os.environ.get("NTM_BENCH_FAULT")
    if not spec:
        return
    for item in spec.split(","):
        kind, _, target = item.strip().partition(":")
        name, _, k = target.partition("@")
        if not name or not path.name.startswith(name):
            continue
        if (kind, stage) not in (("kill_in_write", "before_rename"), ("enospc", "write")):
            continue
        n = _FAULT_COUNTS[item] = _FAULT_COUNTS.get(item, 0) + 1
        if kind == "kill_in_write" and n == int(k or 1):
            os.kill(os.getpid(), signal.SIGKILL)
        if kind == "enospc" and n >= int(k or 1):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise _disk_error(path, e) from None
    try:
        os.chmod(tmp, _FILE_MODE)  # mkstemp makes 0600; records are as readable as any file the user writes
        with os.fdopen(fd, "wb") as f:
            _fault("write", path)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        _fault("before_rename", path)
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
            _fault("write", Path(path))
            f.write(json.dumps(clean(row)) + "\n")
            f.flush()
    except OSError as e:
        raise _disk_error(path, e) from None


def read_jsonl(path: Path) -> list[dict]:
    """The JSON-object rows of a JSON-lines file; torn or corrupted lines (a crash mid-append) are dropped."""
    rows = []
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return rows
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def summary_problem(run_dir: Path) -> str | None:
    """Why the run's summary.json cannot be used (None if it is readable or simply absent)."""
    path = Path(run_dir) / "summary.json"
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return f"{path.parent.name}/summary.json is corrupted or truncated"
    except OSError as e:
        return f"{path.parent.name}/summary.json is unreadable ({e.strerror or e})"
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        return f"{path.parent.name}/summary.json is not a schema-{SCHEMA} run summary"
    return None


def read_summary(run_dir: Path) -> dict | None:
    """The run's summary if it is complete and readable, else None."""
    try:
        data = json.loads((Path(run_dir) / "summary.json").read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) and data.get("schema") == SCHEMA else None


def remove_temp_files(folder: Path) -> None:
    """Drop the temp files of atomic writes that a killed process left behind (call under the lock)."""
    for p in Path(folder).glob(".*.tmp"):
        try:
            p.unlink()
        except OSError:
            pass


# ----------------------------------------------------------------------------------------------
# One process per run folder

def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks (Linux), to tell a live owner from a reused pid."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(owner: dict) -> bool:
    if owner.get("host") != socket.gethostname():
        return True  # another machine's process (a shared filesystem): assume it is alive
    pid = owner.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    started = owner.get("started")
    return started is None or _start_time(pid) in (None, started)


class RunLock:
    """`runs/<id>/.lock`, created with O_CREAT|O_EXCL and holding the owner's host, pid and start time.

    `acquire()` returns None when it holds the lock, else a line naming the owner; a lock whose
    process is gone (killed, crashed) is stale and is taken over."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / ".lock"
        self.held = False

    def _create(self) -> bool:
        me = {"host": socket.gethostname(), "pid": os.getpid(), "started": _start_time(os.getpid())}
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        except OSError as e:
            raise _disk_error(self.path, e) from None
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(me))
        return True

    def owner(self) -> dict | None:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}  # torn (its writer died between create and write): stale
        return data if isinstance(data, dict) else {}

    def acquire(self) -> str | None:
        for _ in range(3):
            if self._create():
                self.held = True
                return None
            owner = self.owner()
            if owner is None:
                continue  # released meanwhile
            if _alive(owner):
                return f"being run by pid {owner.get('pid')} on {owner.get('host')}"
            try:  # stale: take it over, unless someone else just did
                if self.owner() == owner:
                    self.path.unlink()
            except OSError:
                pass
        return "its lock file could not be taken"

    def release(self) -> None:
        if self.held:
            self.held = False
            try:
                if (self.owner() or {}).get("pid") == os.getpid():
                    self.path.unlink()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # the folder that holds ntm_bench/


def portable_path(path, out) -> str:
    """A path as records write it: no absolute machine path. Files of this package are named from
    the package's folder (`ntm_bench/suites/quick.yaml`); anything else relative to the output
    folder `out` (`../../my_model.py`), so a folder moved with its plugins still names them right."""
    path = Path(path).resolve()
    if path.is_relative_to(PACKAGE_ROOT / "ntm_bench"):
        return path.relative_to(PACKAGE_ROOT).as_posix()
    return Path(os.path.relpath(path, Path(out).resolve())).as_posix()


def portable_text(text: str, out) -> str:
    """A traceback with the absolute paths it names made portable: the output folder as `OUT`, this
    package's folder as `<ntm-bench>`, the Python installation as `<python>`, the home folder as
    `~`, and any other file (a plugin) relative to the output folder."""
    roots = [(Path(out).resolve(), "OUT"), (PACKAGE_ROOT, "<ntm-bench>"),
             (Path(sys.prefix).resolve(), "<python>"), (Path(sys.base_prefix).resolve(), "<python>"),
             (Path.home(), "~")]
    text = re.sub(r'File "(/[^"]+)"', lambda m: f'File "{portable_path(m.group(1), out)}"'
                  if not any(Path(m.group(1)).is_relative_to(r) for r, _ in roots) else m.group(0), text)
    for root, name in sorted(roots, key=lambda r: -len(str(r[0]))):
        if str(root) not in ("/", "."):
            text = text.replace(str(root), name)
    return text


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
            "platform": platform.platform(), "cpu": cpu, "host": socket.gethostname(), "git_commit": _git_commit(),
        })
    env = dict(_ENV_CACHE)
    env["device"] = device
    if device.startswith("cuda") and torch.cuda.is_available():
        env["device_name"] = torch.cuda.get_device_name(torch.device(device))
        env["cuda"] = torch.version.cuda
        env["cudnn"] = torch.backends.cudnn.version()
    else:
        env["device_name"] = env["cpu"]
    env["threads"] = torch.get_num_threads()
    env["deterministic"] = torch.are_deterministic_algorithms_enabled()
    return env
