"""One training loop for every model and task, then evaluation on every test point.

`run_one(spec, out_dir)` trains one (task, model, seed), keeps the best checkpoint by validation
score, evaluates it on the suite's test points (lengths beyond training included), and writes the
run's records (docs/records.md). It never raises for a problem inside the run: the summary says
`failed` or `diverged` and the suite goes on. Runs resume exactly from `last.pt` (docs/guarantees.md).
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import math
import sys
import time
import traceback
import zlib
from pathlib import Path

import torch

from ntm_bench import registry
from ntm_bench.config import build_dataclass
from ntm_bench.errors import BenchError
from ntm_bench.loggers import NoLogger, make_logger
from ntm_bench.metrics import LN2, METRICS, call_model, sequence_metrics, sequence_nats, takes_valid
from ntm_bench.optim import clip_gradients, lr_factor, make_optimizer
from ntm_bench.contract import check_instance, check_trace
from ntm_bench.records import (SCHEMA, RunLock, append_jsonl, atomic_torch_save, atomic_write_bytes,
                               atomic_write_json, clean, environment, now, portable_path, portable_text, read_summary,
                               remove_temp_files)
from ntm_bench.suite import EvalConfig, RunSpec, TrainConfig, plugin_sources


class Diverged(Exception):
    def __init__(self, step: int, what: str):
        super().__init__(f"{what} is not finite at step {step}")
        self.step = step


def stable_seed(*parts) -> int:
    """A seed from strings/ints that is the same in every process (unlike hash())."""
    return zlib.crc32("|".join(map(str, parts)).encode()) & 0x7FFFFFFF


# ----------------------------------------------------------------------------------------------
# Data

def sample_points(train_range: dict, batch_size: int, gen: torch.Generator, frac: float = 1.0,
                  curriculum: str = "uniform") -> list[tuple]:
    """Per-sample points drawn uniformly from the (inclusive) training range of each axis.

    With the linear curriculum the upper end grows from lo to hi over the first half of training
    (`frac` is the fraction of the budget used)."""
    cols = []
    for lo, hi in train_range.values():
        if curriculum == "linear":
            hi = lo + round((hi - lo) * min(1.0, 2.0 * frac))
        cols.append(torch.randint(lo, hi + 1, (batch_size,), generator=gen).tolist())
    return [tuple(p) for p in zip(*cols)] if len(cols) > 1 else [(v,) for v in cols[0]]


def squeeze(points: list[tuple]):
    return [p[0] if len(p) == 1 else p for p in points]


def to_device(batch, device):
    return type(batch)(*(t.to(device) for t in batch))


def validation_batches(task, spec: dict, train: TrainConfig, batch_size: int):
    gen = torch.Generator().manual_seed(stable_seed(train.val_seed, spec["label"], "val"))
    rng = {a: tuple(v) for a, v in spec["train_range"].items()}
    out, left = [], train.val_sequences
    while left > 0:
        b = min(batch_size, left)
        out.append(task.sample(b, squeeze(sample_points(rng, b, gen)), gen))
        left -= b
    return out


def test_batches(task, spec: dict, evalc: EvalConfig, point: tuple):
    gen = torch.Generator().manual_seed(stable_seed(evalc.seed, spec["label"], "test", *point))
    p = point[0] if len(point) == 1 else point
    out, left = [], evalc.sequences
    while left > 0:
        b = min(evalc.batch_size, left)
        out.append(task.sample(b, p, gen))
        left -= b
    return out


@torch.no_grad()
def evaluate(model, batches, task, device, with_reference: bool = True) -> dict:
    """Mean of each per-sequence metric over the batches (+ excess over the task's reference)."""
    was_training = model.training
    model.eval()
    sums = {k: 0.0 for k in METRICS}
    excess, n = 0.0, 0
    has_ref = False
    for batch in batches:
        b = to_device(batch, device)
        logits = call_model(model, b.inputs, b.valid)
        check_output(logits, b, getattr(model, "registry_name", type(model).__name__))
        m = sequence_metrics(logits, b.targets, b.mask)
        for k in METRICS:
            sums[k] += m[k].sum().item()
        if with_reference:
            ref = task.reference_bits(batch)
            if ref is not None:
                has_ref = True
                excess += (m["bits"] - ref.double()).sum().item()
        n += batch.inputs.shape[0]
    model.train(was_training)
    out = {k: v / n for k, v in sums.items()}
    out["excess_bits"] = excess / n if has_ref else None
    out["n"] = n
    return out


# ----------------------------------------------------------------------------------------------
# Optimisation

def better(a: dict, b: dict | None) -> bool:
    """Validation order: fewer bit errors, then fewer bits."""
    if b is None:
        return True
    return (a["val_bit_errors"], a["val_bits"]) < (b["val_bit_errors"], b["val_bits"])


# ----------------------------------------------------------------------------------------------
# The run

def build(spec: RunSpec):
    for plugin in spec.plugins:
        registry.load_plugin(plugin)
    if plugin_sources(spec.task["task"], spec.model["model"]) != spec.plugin_sha256:
        raise BenchError("a plugin's source changed after this suite was planned; run the same command again "
                         "to run its current source")
    entry = registry.get_task(spec.task["task"])
    task = build_dataclass(entry.cls, spec.task["args"], where=f"task {spec.task['label']!r} arg")
    mentry = registry.get_model(spec.model["model"])
    torch.manual_seed(spec.init_seed)
    model = mentry.build(task.input_size, task.output_size, spec.model["options"])
    return task, mentry, model


def check_output(logits, batch, label):
    """The model contract: logits (B, T, outputs), a floating tensor on any device."""
    if not isinstance(logits, torch.Tensor):
        raise BenchError(f"model {label!r} returned {type(logits).__name__}, expected a tensor of logits "
                         f"(batch, time, outputs)")
    want = (*batch.targets.shape,)
    if tuple(logits.shape) != want:
        raise BenchError(f"model {label!r} returned logits of shape {tuple(logits.shape)}, expected {want} "
                         f"(batch, time, outputs)")
    if not logits.is_floating_point():
        raise BenchError(f"model {label!r} returned logits of dtype {logits.dtype}, expected a float dtype")


class Trainer:
    def __init__(self, spec: RunSpec, run_dir: Path, progress=None, logger=None):
        self.spec, self.dir, self.progress = spec, Path(run_dir), progress or (lambda ev: None)
        self.logger = logger or NoLogger()  # ntm_bench.loggers: gets each curve row
        self.t = build_dataclass(TrainConfig, spec.train, where="train")
        self.e = build_dataclass(EvalConfig, spec.eval, where="eval")
        self.device = torch.device(self.t.device)
        self.task, self.entry, self.model = build(spec)
        self.label = spec.model["label"]
        self.who = model_name_for_messages(spec, self.dir.parent.parent)
        check_instance(self.model, self.who)
        self.model.to(self.device)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.notes: list[str] = []
        self.trace_error: str | None = None  # why trace() gave no attention record (None: it did, or none asked)

    # -- checkpoints ------------------------------------------------------------------------
    CHECKPOINT_KEYS = ("config_hash", "model", "optimizer", "generator", "torch_rng", "step", "sequences",
                       "wall_s", "best_val", "best_step", "lr", "restarts", "best_state", "good", "loss_acc",
                       "loss_n", "curve")

    def save_last(self, state: dict) -> None:
        atomic_torch_save(self.dir / "last.pt", state)

    def load_last(self) -> dict | None:
        """The resumable checkpoint of this run's config, or None (a problem with it is reported by name)."""
        path = self.dir / "last.pt"
        if not path.exists():
            return None
        try:  # weights_only: a results folder from elsewhere cannot run code on load
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - a torn or foreign checkpoint means start over, never crash
            self.note(f"{self.spec.run_id}/last.pt is unreadable ({type(e).__name__}); starting from step 0")
            return None
        if not isinstance(state, dict) or any(k not in state for k in self.CHECKPOINT_KEYS):
            self.note(f"{self.spec.run_id}/last.pt is not a checkpoint of this version; starting from step 0")
            return None
        if state["config_hash"] != self.spec.config_hash():
            self.note(f"{self.spec.run_id}/last.pt belongs to another config; starting from step 0")
            return None
        return state

    def note(self, line: str) -> None:
        """A problem that did not stop the run: on stderr now and in the summary."""
        self.notes.append(line)
        print(f"warning: {line}", file=sys.stderr)

    # -- training ---------------------------------------------------------------------------
    def train(self) -> dict:
        """The training loop (one for every task and model), resumable from last.pt bit for bit.

        Everything that the rest of the run depends on lives in the checkpoint: model, optimiser,
        the data generator and torch's global RNG (dropout), the best state and score, the last good
        state (restarts after divergence), the training-cost accumulator and the curve rows so far.
        Validation and test data come from their own fixed seeds, so they need no state."""
        t, spec = self.t, self.spec
        info = {"steps": 0, "sequences": 0, "wall_s": 0.0, "best_step": None, "best_val": None,
                "stopped_by": None, "diverged_at": None, "restarts": 0, "resumed_from": None}
        self.best_state = copy.deepcopy(self.model.state_dict())
        if not self.params:  # a reference model with nothing to learn
            info["stopped_by"] = "no trainable parameters"
            return info
        val = validation_batches(self.task, spec.task, t, self.e.batch_size)
        rng = {a: tuple(v) for a, v in spec.task["train_range"].items()}
        lr = t.lr
        opt = make_optimizer(self.params, t)
        gen = torch.Generator().manual_seed(spec.data_seed)
        step, seqs, elapsed, best, loss_acc, loss_n = 0, 0, 0.0, None, 0.0, 0
        curve: list[dict] = []
        # the last good state, for restarts after divergence: the initial weights until the first validation
        good = {"model": copy.deepcopy(self.model.state_dict()), "step": 0, "sequences": 0}
        curve_path = self.dir / "curve.jsonl"
        last = self.load_last()
        if last is not None:
            self.model.load_state_dict(last["model"])
            opt.load_state_dict(last["optimizer"])
            gen.set_state(last["generator"])
            torch.set_rng_state(last["torch_rng"])
            if self.device.type == "cuda" and last.get("cuda_rng") is not None:
                torch.cuda.set_rng_state(last["cuda_rng"], self.device)
            step, seqs, elapsed, best = last["step"], last["sequences"], last["wall_s"], last["best_val"]
            loss_acc, loss_n, lr, good = last["loss_acc"], last["loss_n"], last["lr"], last["good"]
            info.update(best_step=last["best_step"], restarts=last["restarts"], resumed_from=step)
            self.best_state = last["best_state"]
            curve = list(last["curve"])
        atomic_write_json_lines(curve_path, curve)  # the curve up to the checkpoint, nothing after it
        start = time.perf_counter() - elapsed
        saved_at = time.perf_counter()
        self.model.train()

        def budget_left() -> str | None:
            if step >= t.steps:
                return "steps"
            if t.max_sequences is not None and seqs >= t.max_sequences:
                return "sequences"
            if t.max_seconds is not None and time.perf_counter() - start >= t.max_seconds:
                return "seconds"
            if (t.target_bit_errors is not None and best is not None
                    and best["val_bit_errors"] <= t.target_bit_errors):
                return "target"
            return None

        def checkpoint():
            state = {"config_hash": spec.config_hash(), "model": self.model.state_dict(),
                     "optimizer": opt.state_dict(), "generator": gen.get_state(),
                     "torch_rng": torch.get_rng_state(), "step": step, "sequences": seqs,
                     "wall_s": time.perf_counter() - start, "best_val": best, "best_step": info["best_step"],
                     "lr": lr, "restarts": info["restarts"], "best_state": self.best_state, "good": good,
                     "loss_acc": loss_acc, "loss_n": loss_n, "curve": curve}
            if self.device.type == "cuda":
                state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
            self.save_last(state)

        checked = False
        while (stop := budget_left()) is None:
            try:
                points = sample_points(rng, t.batch_size, gen, step / t.steps, t.curriculum)
                batch = to_device(self.task.sample(t.batch_size, squeeze(points), gen), self.device)
                logits = call_model(self.model, batch.inputs, batch.valid)
                if not checked:
                    check_output(logits, batch, self.label)
                    checked = True
                loss = sequence_nats(logits, batch.targets, batch.mask).mean()  # nats per sequence
                if not torch.isfinite(loss):
                    raise Diverged(step + 1, "the training loss")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                norm = clip_gradients(self.params, t)
                if not math.isfinite(norm):
                    raise Diverged(step + 1, "the gradient")
                for g in opt.param_groups:
                    g["lr"] = lr * lr_factor(t, step)
                opt.step()
                step += 1
                seqs += t.batch_size
                loss_acc += loss.item() / LN2
                loss_n += 1
                row = None
                if step % t.eval_every == 0 or budget_left() is not None:
                    v = evaluate(self.model, val, self.task, self.device, with_reference=False)
                    if not all(math.isfinite(v[k]) for k in METRICS):
                        raise Diverged(step, "the validation cost")
                    row = {"step": step, "sequences": seqs, "wall_s": round(time.perf_counter() - start, 3),
                           "train_bits": loss_acc / max(loss_n, 1), "lr": lr * lr_factor(t, step - 1),
                           **{f"val_{k}": v[k] for k in METRICS}}
            except Diverged as d:
                if t.on_divergence == "restart" and info["restarts"] < t.max_restarts:
                    # back to the last good state with a lower learning rate; the data stream goes on
                    info["restarts"] += 1
                    lr *= t.restart_lr_factor
                    self.model.load_state_dict(good["model"])
                    opt = make_optimizer(self.params, t)
                    for g in opt.param_groups:
                        g["lr"] = lr
                    step, seqs, loss_acc, loss_n = good["step"], good["sequences"], 0.0, 0
                    curve = [r for r in curve if r["step"] <= step]
                    atomic_write_json_lines(curve_path, curve)
                    print(f"warning: {spec.run_id}: {d}; restart {info['restarts']} of {t.max_restarts} "
                          f"from step {step} with lr {lr:g}", file=sys.stderr)
                    continue
                info.update(stopped_by="diverged", diverged_at=d.step, diverged_what=str(d))
                break
            if row is not None:
                loss_acc, loss_n = 0.0, 0
                append_jsonl(curve_path, row)
                curve.append(clean(row))
                self.logger.log(row)
                if better(row, best):
                    best = {k: row[k] for k in row if k.startswith("val_")}
                    info["best_step"] = step
                    self.best_state = copy.deepcopy(self.model.state_dict())
                    atomic_torch_save(self.dir / "best.pt", self.best_state)
                good = {"model": copy.deepcopy(self.model.state_dict()), "step": step, "sequences": seqs}
                self.progress({"kind": "eval", "step": step, "total": t.steps,
                               "best_bit_errors": best["val_bit_errors"]})
            else:
                self.progress({"kind": "step", "step": step, "total": t.steps, "loss": loss.item() / LN2})
            if (step % t.checkpoint_every == 0 or budget_left() is not None or
                    (t.checkpoint_seconds is not None and time.perf_counter() - saved_at >= t.checkpoint_seconds)):
                checkpoint()
                saved_at = time.perf_counter()
        info.update(steps=step, sequences=seqs, wall_s=round(time.perf_counter() - start, 3), best_val=best)
        if info["stopped_by"] is None:
            info["stopped_by"] = stop
        return info

    # -- evaluation -------------------------------------------------------------------------
    def unseen(self, point: tuple) -> bool:
        """True when any axis of the point lies beyond the training range."""
        rng = self.spec.task["train_range"]
        return any(v > rng[a][1] for a, v in zip(self.task.axes, point))

    def test(self) -> list[dict]:
        self.model.load_state_dict(self.best_state)
        rows = []
        for point in self.spec.task["test"]:
            point = tuple(point)
            with self.memory_for(point) as rows_used:
                m = evaluate(self.model, test_batches(self.task, self.spec.task, self.e, point),
                             self.task, self.device)
            unseen = self.unseen(point)
            rows.append({"point": list(point), "label": self.task.point_label(point if len(point) > 1 else point[0]),
                         "axes": dict(zip(self.task.axes, point)), "split": "unseen" if unseen else "train",
                         **m, "memory_rows": rows_used})
        return rows

    @contextlib.contextmanager
    def memory_for(self, point):
        """Enlarge the model's memory for this test point if it needs more rows; restore after."""
        before = getattr(self.model, "memory_rows", None)
        if before is None:
            yield None
            return
        need = self.task.memory_rows_needed(point[0] if len(point) == 1 else point)
        if need > before and self.e.enlarge_memory:
            self.model.set_memory_rows(need)
        try:
            yield self.model.memory_rows
        finally:
            if self.model.memory_rows != before:
                self.model.set_memory_rows(before)

    def attention(self) -> dict | None:
        """One test sequence's attention (the first point beyond training, else the last point)."""
        if not self.e.attention or not hasattr(self.model, "trace"):
            return None
        rng = self.spec.task["train_range"]
        points = [tuple(p) for p in self.spec.task["test"]]
        unseen = [p for p in points if self.unseen(p)]
        point = unseen[0] if unseen else points[-1]
        batch = test_batches(self.task, self.spec.task, dataclasses.replace(self.e, sequences=32, batch_size=32),
                             point)[0]
        from ntm_bench.report.fingerprints import fingerprints

        try:  # an optional method: if it fails, the run still counts, and its record says why it has no pictures
            with self.memory_for(point), torch.no_grad():
                self.model.eval()
                b = to_device(batch, self.device)
                out = self.model.trace(b.inputs, b.valid) if takes_valid(self.model.trace) \
                    else self.model.trace(b.inputs)
                logits, weights = check_trace(out, b.inputs, self.task.output_size, self.who)
            fp = fingerprints({k: v.cpu() for k, v in weights.items()}, batch.valid)
        except Exception as e:  # noqa: BLE001 - user code: any failure becomes one line in the record
            text = str(e) if isinstance(e, BenchError) else f"{self.who}: trace() raised {type(e).__name__}: {e}"
            self.trace_error = (text.splitlines() or [type(e).__name__])[0]
            self.note(f"{self.spec.run_id}: no memory picture or fingerprints: {self.trace_error}")
            return None
        n = int(batch.valid[0].sum())
        def own(t):  # a copy of the first sequence: torch.save of a view would store the whole batch
            return t[0, :n].detach().cpu().clone()

        att = {"task": self.spec.task["task"], "label": self.task.point_label(point if len(point) > 1 else point[0]),
               "point": list(point), "axes": list(self.task.axes),
               "train_max": {a: rng[a][1] for a in self.task.axes},
               "inputs": own(batch.inputs.float()), "targets": own(batch.targets.float()),
               "outputs": own(torch.sigmoid(logits.float())), "mask": own(batch.mask), "valid": own(batch.valid),
               "weights": {k: own(v.float()) for k, v in weights.items()}}
        atomic_torch_save(self.dir / "attention.pt", att)
        return {"point": att["label"], "heads": fp}


def atomic_write_json_lines(path: Path, rows: list[dict]) -> None:
    atomic_write_bytes(path, "".join(json.dumps(r) + "\n" for r in rows).encode())


def count_params(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


COMPLETE = ("ok", "diverged")


def plugin_of(kind: str, name: str, out: Path) -> str | None:
    """The plugin file that registers the run's task or model, relative to the output folder
    (None for a built-in)."""
    try:
        entry = registry.get_task(name) if kind == "task" else registry.get_model(name)
    except BenchError:
        return None
    return portable_path(entry.plugin, out) if entry.plugin else None


def model_name_for_messages(spec: RunSpec, out: Path) -> str:
    """"plugin 'x.py', model 'mine'" for a plugin's model, "model 'ntm'" for a built-in."""
    where = plugin_of("model", spec.model["model"], out)
    return (f"plugin {where!r}, " if where else "") + f"model {spec.model['label']!r}"


def run_one(spec: RunSpec, out_dir: Path, progress=None, logger: str = "none") -> dict:
    """Train, evaluate and record one run; return its summary (status ok / diverged / failed).
    `logger` (ntm_bench.loggers) also gets the learning curve as it grows: a runtime setting,
    no part of the run's identity.

    The run folder is locked for the duration (records.RunLock): a run that another live process
    holds is left alone (status 'busy ...', nothing written), and a run that another process
    completed meanwhile is not redone. A problem inside the run is recorded as `failed`; only a
    summary that cannot be written (a full disk) raises, as a BenchError naming the file."""
    run_dir = Path(out_dir) / "runs" / spec.run_id
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BenchError(f"cannot create run folder {str(run_dir)!r}: {e.strerror or e}") from None
    with RunLock(run_dir) as lock:
        busy = lock.acquire()
        if busy is not None:
            return {"run_id": spec.run_id, "status": f"busy ({busy})", "error": busy}
        done = read_summary(run_dir)
        if done is not None and done.get("status") in COMPLETE and done.get("config_hash") == spec.config_hash():
            return done  # completed by another invocation since this one planned it
        remove_temp_files(run_dir)
        return _run_locked(spec, run_dir, progress, logger)


def _task_version(spec: RunSpec):
    try:
        return registry.get_task(spec.task["task"]).cls.version
    except BenchError:
        return None


def _run_locked(spec: RunSpec, run_dir: Path, progress, logger: str = "none") -> dict:
    out = run_dir.parent.parent
    atomic_write_json(run_dir / "config.json", {**spec.to_json(), "plugins": [portable_path(p, out) for p in spec.plugins],
                                                "config_hash": spec.config_hash()})
    for stale in ("attention.pt", "error.txt"):  # an earlier try's (e.g. of an edited plugin); written anew below
        (run_dir / stale).unlink(missing_ok=True)
    torch.set_num_threads(spec.train.get("threads", 1))
    device = spec.train.get("device", "cpu")
    # CPU runs use deterministic kernels (the record says so); on CUDA it is the user's call
    torch.use_deterministic_algorithms(device == "cpu", warn_only=True)
    started = now()
    summary = {"schema": SCHEMA, "run_id": spec.run_id, "suite": spec.suite, "status": "failed", "error": None,
               "config_hash": spec.config_hash(),
               "task": {"name": spec.task["task"], "label": spec.task["label"], "version": _task_version(spec),
                        "args": spec.task["args"], "axes": None,
                        "train_range": spec.task["train_range"], "test": spec.task["test"], "plugin": None},
               "model": {"label": spec.model["label"], "name": spec.model["model"], "preset": spec.model["preset"],
                         "options": spec.model["options"], "params": None, "reference": False, "plugin": None},
               "seed": spec.seed, "data_seed": spec.data_seed, "init_seed": spec.init_seed,
               "eval_seed": spec.eval["seed"], "train": spec.train, "sweep": spec.sweep,
               "plugin_sha256": spec.plugin_sha256, "training": None, "eval": [],
               "fingerprints": None, "trace_error": None, "notes": [], "env": None, "started_at": started,
               "finished_at": None}
    tr = None
    try:
        try:
            for plugin in spec.plugins:  # (build loads them again: a no-op) so that the record can name them
                registry.load_plugin(plugin)
            summary["model"]["plugin"] = plugin_of("model", spec.model["model"], out)
            summary["task"]["plugin"] = plugin_of("task", spec.task["task"], out)
            tr = Trainer(spec, run_dir, progress, make_logger(logger, run_dir))
        finally:
            summary["env"] = environment(device)
        summary["task"].update(version=tr.task.version, axes=list(tr.task.axes))
        summary["model"].update(params=count_params(tr.model), reference=tr.entry.reference)
        info = tr.train()
        summary["training"] = info
        code_path = {}  # a model with several code paths (the NTM's backends) names the one each phase ran on
        code_path["train"] = getattr(tr.model, "code_path", None)
        if info["stopped_by"] == "diverged":
            where = summary["model"]["plugin"]
            summary.update(status="diverged", error=(f"plugin {where!r}: " if where else "") + info.pop("diverged_what"))
        if info["best_val"] is not None or not tr.params:
            summary["eval"] = tr.test()
            code_path["eval"] = getattr(tr.model, "code_path", None)
            summary["fingerprints"] = tr.attention()
            code_path["trace"] = getattr(tr.model, "code_path", None) if summary["fingerprints"] else None
            summary["trace_error"] = tr.trace_error
        if any(code_path.values()):
            summary["env"]["code_path"] = {k: v for k, v in code_path.items() if v}
        if summary["status"] != "diverged":
            summary["status"] = "ok"
    except Exception as e:  # noqa: BLE001 - a failing run is recorded, the suite goes on
        where = summary["model"].get("plugin")
        text = str(e) if isinstance(e, BenchError) else f"{type(e).__name__}: {e}"
        prefix = f"plugin {where!r}: " if where and not text.startswith("plugin ") else ""
        summary["error"] = prefix + (text.splitlines() or [type(e).__name__])[0]
        summary["status"] = "failed"
        try:
            (run_dir / "error.txt").write_text(portable_text(traceback.format_exc(), out))
        except OSError:
            pass
    if tr is not None:
        tr.logger.close()
        summary["notes"] = tr.notes
    summary["finished_at"] = now()
    atomic_write_json(run_dir / "summary.json", summary)
    return summary
