"""Speed and memory of the NTM against the baselines: `python run_bench.py speed [--quick] [--json]`.

Workload (the paper's copy task, Graves 2014 §4.1): lengths L ~ U{1..20} per sequence, each batch
padded to its longest sequence (T = 2 L_max + 1), input 9 / output 8. A training step is
forward + BCE-with-logits on the scored steps + backward + Adam step. The rows are those every
registered model declares (`registry.SpeedRow`: options or a preset's, environment variables
for runtime settings, and the row it is compared with), never chosen here by a model's name: the
NTM's ("ntm" on its C++ kernels, "ntm_python" and "ntm_plain" on its other paths, "ntm_sort" and
"ntm_ff" for the paper's priority-sort and feed-forward sizes, each also on the readable path),
"lstm", "transformer", and a reference row of this module, "nn_lstm": a bare
torch.nn.LSTM(9 + 20, 100) + Linear(100, 8), i.e. an NTM's controller without its memory.
`speedups` gives each row's rates over those of the row it declares as its baseline.
Evaluation (no grad) runs long sequences: copy length 250 (T = 501), batch 64, the NTM with 512
memory rows. The headline row's (the NTM's) evaluation time is also measured at lengths 125/250/500 (rows 512)
and at rows 128/256/512 (length 250): both should grow about linearly.

Every number is a median over `repeats` timed rounds (wall clock), with the spread (min, max).
On a CPU each row also gives `cpu_seq_per_s`: sequences per CPU-second of the measuring process,
which other jobs on a shared machine disturb much less than the wall clock.
Peak memory: on CUDA torch.cuda.max_memory_allocated; on a CPU each measurement runs in a fresh
subprocess, which resets the kernel's peak-RSS mark (`peak_rss`) after building the
model and the data, and reports VmHWM minus the RSS at that point: the extra resident memory the
workload needed, in MiB (tracemalloc does not see torch's allocations). CPU runs use 1 thread.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from dataclasses import asdict, dataclass, replace

import torch
from torch import nn

from ntm_bench import peak_rss
from ntm_bench.errors import BenchError
from ntm_bench.speed_format import format_speed  # noqa: F401  (the table of a result; re-exported)

REFERENCE = "nn_lstm"  # this module's own reference row (BareLSTM)
INPUT, OUTPUT = 9, 8  # copy: 8 bits + delimiter in, 8 bits out
TRAIN_LENGTHS = (1, 20)  # Graves 2014 §4.1


@dataclass(frozen=True)
class SpeedSettings:
    train_sequences: int = 384  # sequences timed per round (at least 2 batches)
    repeats: int = 3
    eval_length: int = 250  # copy length -> T = 501
    eval_rows: int = 512  # NTM memory rows at evaluation
    eval_batch: int = 64
    scaling_lengths: tuple = (125, 250, 500)  # at scaling_rows[-1] rows
    scaling_rows: tuple = (128, 256, 512)  # at scaling_lengths[1]
    scaling_batch: int = 64
    threads: int = 1


FULL = SpeedSettings()
QUICK = SpeedSettings(train_sequences=64, repeats=2, eval_length=50, eval_rows=128, eval_batch=16,
                      scaling_lengths=(25, 50, 100), scaling_rows=(32, 64, 128), scaling_batch=16)


class BareLSTM(nn.Module):
    """Reference row: torch.nn.LSTM over [x, 20 zeros] (an NTM controller's input size) + Linear."""

    def __init__(self, input_size: int, output_size: int, read_size: int = 20, hidden: int = 100):
        super().__init__()
        self.read_size = read_size
        self.lstm = nn.LSTM(input_size + read_size, hidden, batch_first=True)
        self.out = nn.Linear(hidden, output_size)

    def forward(self, x, valid=None):
        x = torch.cat([x, x.new_zeros(*x.shape[:2], self.read_size)], -1)
        return self.out(self.lstm(x)[0])


def speed_rows() -> dict:
    """{row name: (model name, SpeedRow)} of every registered model's declared rows, in model order."""
    from ntm_bench.registry import get_model, model_names

    rows = {}
    for model in model_names():
        for row in get_model(model).speed:
            if row.name in rows or row.name == REFERENCE:
                raise BenchError(f"speed row {row.name!r} of model {model!r} is declared twice")
            rows[row.name] = (model, row)
    return rows


@contextlib.contextmanager
def _environment(env: dict):
    """The row's environment variables (runtime settings) set for the duration."""
    before = {k: os.environ.get(k) for k in env}
    os.environ.update({k: str(v) for k, v in env.items()})
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _build(name: str, device: str):
    """The model of row `name` (None if no registered model declares it)."""
    from ntm_bench.registry import get_model

    if name == REFERENCE:
        return BareLSTM(INPUT, OUTPUT).to(device)
    rows = speed_rows()
    if name not in rows:
        return None
    model, row = rows[name]
    entry = get_model(model)
    options = {}
    if row.preset is not None:
        preset, task = row.preset
        per_task = entry.presets[preset]
        options.update(per_task.get(task, per_task.get("*", {})).get("options", {}))
    options.update(row.options)
    return entry.build(INPUT, OUTPUT, options).to(device)


def _prepare(names, device: str) -> None:
    """Each row's model's `prepare` hook, under the row's settings (e.g. build the NTM's kernels), so
    that no measurement pays for it."""
    from ntm_bench.registry import get_model

    rows = speed_rows()
    for name in names:
        if name in rows:
            model, row = rows[name]
            hook = get_model(model).prepare
            if hook is not None:
                with _environment(row.env):
                    hook(device)


def _batches(batch: int, count: int, length, device: str, seed: int):
    """`count` copy batches; length: (lo, hi) drawn per sequence, or one int for all."""
    from ntm_bench.registry import get_task

    task = get_task("copy").cls()
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(count):
        if isinstance(length, tuple):
            lengths = torch.randint(length[0], length[1] + 1, (batch,), generator=g).tolist()
        else:
            lengths = [length] * batch
        b = task.sample(batch, lengths, g)
        out.append(tuple(t.to(device) for t in (b.inputs, b.targets, b.mask, b.valid)))
    return out


def _sync(device: str):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _measure_one(spec: dict) -> dict:
    """One (model, mode, batch) measurement in this process; returns rates and peak memory."""
    device, name = spec["device"], spec["model"]
    if device == "cpu":
        torch.set_num_threads(spec["threads"])
    torch.manual_seed(0)
    model = _build(name, device)
    if model is None:
        return {"status": "not registered"}
    result = {"status": "ok", "params": sum(p.numel() for p in model.parameters())}
    env = speed_rows()[name][1].env if name != REFERENCE else {}
    with _environment(env):
        _time(spec, model, result)
    return result


def _time(spec: dict, model, result: dict) -> None:
    device = spec["device"]
    B = spec["batch"]
    if spec["mode"] == "train":
        n = max(2, math.ceil(spec["sequences"] / B))
        data = _batches(B, n + 1, TRAIN_LENGTHS, device, seed=1)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        model.train()

        def step(x, y, mask, valid):
            logits = model(x, valid)
            loss = nn.functional.binary_cross_entropy_with_logits(logits[mask], y[mask])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        work, timed = [data[0]], data[1:]
    else:
        rows = spec.get("rows")
        if rows is not None and hasattr(model, "set_memory_rows"):
            model.set_memory_rows(rows)
            result["memory_rows"] = rows
        timed = _batches(B, spec.get("count", 1), spec["length"], device, seed=2)
        work = timed[:1]
        model.eval()

        def step(x, y, mask, valid):
            with torch.no_grad():
                model(x, valid)
    mem_ok = False
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base, mem_ok = peak_rss.current_mib(), peak_rss.reset()
    for b in work:  # warm-up (also the step whose peak memory is measured on a CPU)
        step(*b)
    _sync(device)
    rates, cpu_rates = [], []
    for _ in range(spec["repeats"]):
        t0, c0 = time.perf_counter(), time.process_time()
        for b in timed:
            step(*b)
        _sync(device)
        rates.append(len(timed) * B / (time.perf_counter() - t0))
        cpu_rates.append(len(timed) * B / max(time.process_time() - c0, 1e-9))
    if device.startswith("cuda"):
        result["peak_mem_mib"] = (torch.cuda.max_memory_allocated() - base) / 2**20
    elif mem_ok and base is not None:
        result["peak_mem_mib"] = peak_rss.peak_mib() - base
    result.update(_stats(rates, "seq_per_s"))
    if device == "cpu":  # CPU seconds of this process: robust to other jobs sharing the cores
        result["cpu_seq_per_s"] = statistics.median(cpu_rates)


def _stats(values: list, key: str) -> dict:
    return {key: statistics.median(values), "spread": [min(values), max(values)], "runs": values}


def _run(spec: dict, isolate: bool) -> dict:
    if not isolate:
        return _measure_one(spec)
    proc = subprocess.run([sys.executable, "-c", "import ntm_bench.speed as s; s._child()"],
                          input=json.dumps(spec), capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"status": f"error: {tail}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _child() -> None:
    spec = json.loads(sys.stdin.read())
    try:
        out = _measure_one(spec)
    except Exception as e:  # noqa: BLE001 - one failing baseline must not sink the table
        out = {"status": f"error: {type(e).__name__}: {e}"}
    print(json.dumps(out))


def _scaling(settings: SpeedSettings, device: str, name: str) -> dict:
    """Row `name`'s evaluation seconds per batch against length (rows fixed) and rows (length fixed)."""
    if device == "cpu":
        torch.set_num_threads(settings.threads)
    torch.manual_seed(0)
    model = _build(name, device)
    if model is None or not hasattr(model, "set_memory_rows"):
        return {"status": "not measured: no memory whose rows can be set"}
    model.eval()
    B = settings.scaling_batch

    def seconds(length, rows):
        model.set_memory_rows(rows)
        (x, _, _, valid), = _batches(B, 1, length, device, seed=3)
        times = []
        for _ in range(settings.repeats):
            _sync(device)
            t0 = time.perf_counter()
            with torch.no_grad():
                model(x, valid)
            _sync(device)
            times.append(time.perf_counter() - t0)
        return {"length": length, "rows": rows, "T": x.shape[1], **_stats(times, "s_per_batch")}

    with _environment(speed_rows()[name][1].env):
        by_length = [seconds(L, settings.scaling_rows[-1]) for L in settings.scaling_lengths]
        by_rows = [seconds(settings.scaling_lengths[1], n) for n in settings.scaling_rows]
    for rows in (by_length, by_rows):
        for r in rows:
            r["relative"] = r["s_per_batch"] / rows[0]["s_per_batch"]
    return {"status": "ok", "model": name, "batch": B, "by_length": by_length, "by_rows": by_rows}


def measure(quick: bool = False, device: str = "cpu", batch_sizes=(1, 32, 256), repeats: int | None = None,
            models=None, isolate: bool | None = None) -> dict:
    """Training and evaluation throughput, peak memory, and the headline row's evaluation scaling,
    of the rows `models` (default: every declared row, then the nn_lstm reference).

    isolate: one subprocess per measurement (default on a CPU, where it is how peak memory is
    measured); in-process measurements leave peak memory out on a CPU."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BenchError(f"device {device!r} is not available; valid: cpu" + (", cuda" if torch.cuda.is_available() else ""))
    if device != "cpu" and not device.startswith("cuda"):
        raise BenchError(f"unknown device {device!r}; valid: cpu, cuda")
    settings = QUICK if quick else FULL
    if repeats is not None:
        if repeats < 1:
            raise BenchError(f"repeats must be >= 1, got {repeats}")
        settings = replace(settings, repeats=int(repeats))
    if isolate is None:
        isolate = device == "cpu"
    declared = speed_rows()
    models = tuple(models) if models is not None else (*declared, REFERENCE)
    unknown = [m for m in models if m not in declared and m != REFERENCE]
    if unknown:
        raise BenchError(f"unknown speed row {unknown[0]!r}; valid: {', '.join([*declared, REFERENCE])}")
    _prepare(models, device)
    base = {"device": device, "threads": settings.threads, "repeats": settings.repeats}
    result = {"settings": asdict(settings), "device": device, "torch": torch.__version__,
              "batch_sizes": list(batch_sizes), "models": {},
              "notes": {name: declared[name][1].note for name in models if name in declared}}
    for name in models:
        row = {"train": {}}
        for B in batch_sizes:
            r = _run({**base, "model": name, "mode": "train", "batch": int(B),
                      "sequences": settings.train_sequences}, isolate)
            if r["status"] == "not registered":
                row = {"status": "not registered"}
                break
            row["train"][str(B)] = r
        else:
            row["eval"] = _run({**base, "model": name, "mode": "eval", "batch": settings.eval_batch,
                                "length": settings.eval_length, "rows": settings.eval_rows, "count": 1}, isolate)
            oks = [r for r in [*row["train"].values(), row["eval"]] if r.get("status") == "ok"]
            row["status"] = "ok" if oks else (row["eval"].get("status") or "error")
            row["params"] = oks[0]["params"] if oks else None
        result["models"][name] = row
    headline = next((n for n in models if n in declared and declared[n][1].headline), None)
    result["headline"] = headline
    result["eval_scaling"] = _scaling(settings, device, headline) if headline else {"status": "not measured"}

    def train_rate(name, B, key="seq_per_s"):
        r = result["models"].get(name, {}).get("train", {}).get(str(B), {})
        return r.get(key)

    def ratio(a, b):
        return a / b if a and b else None

    if headline:  # keys named after the headline row (the NTM: ntm_b32_seq_per_s, ntm_to_nn_lstm_ratio, ...)
        result[f"{headline}_b32_seq_per_s"] = train_rate(headline, 32)
        result[f"{headline}_b1_seq_per_s"] = train_rate(headline, 1)
        result[f"{headline}_to_nn_lstm_ratio"] = ratio(train_rate(REFERENCE, 32), train_rate(headline, 32))
        result[f"{headline}_to_nn_lstm_ratio_cpu_time"] = ratio(train_rate(REFERENCE, 32, "cpu_seq_per_s"),
                                                                train_rate(headline, 32, "cpu_seq_per_s"))
    result["nn_lstm_b32_seq_per_s"] = train_rate(REFERENCE, 32)

    # each row against the row it declares as its baseline (an accelerated path against the one it replaces)
    result["speedups"] = {
        name: {"vs": declared[name][1].baseline,
               "train": {str(B): ratio(train_rate(name, B), train_rate(declared[name][1].baseline, B))
                         for B in batch_sizes},
               "eval": ratio(*(result["models"][n].get("eval", {}).get("seq_per_s")
                               for n in (name, declared[name][1].baseline)))}
        for name in models if name in declared and declared[name][1].baseline in models}
    return result



if __name__ == "__main__":
    quick = "--quick" in sys.argv
    res = measure(quick=quick)
    print(json.dumps(res, indent=1) if "--json" in sys.argv else format_speed(res))
