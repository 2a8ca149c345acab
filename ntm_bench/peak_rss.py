"""Peak resident memory of this process on Linux, from /proc: `speed` resets the kernel's high-water
mark after building a model and its data, and reads how far the workload raised it. Each function
returns None (False for reset) where /proc does not offer it."""
from __future__ import annotations


def current_mib() -> float | None:
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        import resource  # POSIX only: imported where /proc exists
        return pages * resource.getpagesize() / 2**20
    except (OSError, ValueError):
        return None


def reset() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


def peak_mib() -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return None
