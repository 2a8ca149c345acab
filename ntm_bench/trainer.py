"""The training loop: one for every model and task, resumable from last.pt bit for bit.

`Trainer(spec, run_dir)` builds the run's task and model; `train()` trains until a budget is spent
or validation reaches the target, keeping the best checkpoint by validation score (evaluation.better);
`test()` evaluates that checkpoint on the test points and `attention()` records one test sequence's
attention. Data comes from ntm_bench.data, checkpoints from ntm_bench.checkpoint; what resume
guarantees is in docs/guarantees.md.
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import sys
import time
from pathlib import Path

import torch

from ntm_bench import checkpoint, registry
from ntm_bench.checkpoint import TrainState
from ntm_bench.config import EvalConfig, TrainConfig, build_dataclass
from ntm_bench.contract import check_instance
from ntm_bench.data import to_device, training_batch, validation_batches
from ntm_bench.errors import BenchError
from ntm_bench.evaluation import attention, better, check_output, evaluate, test_rows
from ntm_bench.loggers import NoLogger
from ntm_bench.metrics import LN2, METRICS, call_model, output_kind
from ntm_bench.optim import clip_gradients, lr_factor, make_optimizer
from ntm_bench.records import append_jsonl, atomic_torch_save, atomic_write_bytes, clean, portable_path
from ntm_bench.run_record import CurveRow, TrainingRecord
from ntm_bench.spec import RunSpec, build_task, plugin_sources


class Diverged(Exception):
    def __init__(self, step: int, what: str):
        super().__init__(f"{what} is not finite at step {step}")
        self.step = step


def build(spec: RunSpec):
    """(task, model entry, model) of a run: its plugins loaded, the model initialised from init_seed."""
    for plugin in spec.plugins:
        registry.load_plugin(plugin)
    if plugin_sources(spec.task["task"], spec.model["model"]) != spec.plugin_sha256:
        raise BenchError("a plugin's source changed after this suite was planned; run the same command again "
                         "to run its current source")
    task = build_task(spec.task["task"], spec.task["args"], spec.task["train_range"],
                      where=f"task {spec.task['label']!r}")
    mentry = registry.get_model(spec.model["model"])
    return task, mentry, initialised(mentry, task, spec.model["options"], spec.init_seed)


def initialised(mentry: registry.ModelEntry, task, options: dict, seed: int):
    """A new model of the entry for the task, its weights drawn after torch.manual_seed(seed)."""
    torch.manual_seed(seed)
    return mentry.build(task.input_size, task.output_size, options)


def reinit_seed(init_seed: int, attempt: int) -> int:
    """The seed of a run's fresh weights for its `attempt`-th new initialisation (1, 2, ...): derived
    from the run's init_seed, and far from the small seeds that other runs use."""
    digest = hashlib.sha256(f"reinit:{init_seed}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:7], "big")


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


def write_curve(path: Path, rows: list[dict]) -> None:
    """curve.jsonl as exactly these rows (after a resume or a restart: nothing after the state)."""
    atomic_write_bytes(path, "".join(json.dumps(r) + "\n" for r in rows).encode())


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
        self.state = TrainState(best_state=copy.deepcopy(self.model.state_dict()))
        self.notes: list[str] = []
        self.diverged_what: str | None = None  # why training diverged (the record's error)
        self.trace_error: str | None = None  # why trace() gave no attention record (None: it did, or none asked)

    def note(self, line: str) -> None:
        """A problem that did not stop the run: on stderr now and in the summary."""
        self.notes.append(line)
        print(f"warning: {line}", file=sys.stderr)

    def train(self) -> TrainingRecord:
        """Train until a budget is spent, validation reaches the target, or the loss diverges.

        Everything the rest of the run depends on is in the checkpoint (checkpoint.TrainState plus the
        model, optimiser, data generator and torch's global RNG), so a resumed run continues exactly.
        Validation and test data come from their own fixed seeds, so they need no state."""
        t, spec = self.t, self.spec
        if not self.params:  # a reference model with nothing to learn
            return TrainingRecord(steps=0, sequences=0, wall_s=0.0, best_step=None, best_val=None,
                                  stopped_by="no trainable parameters", diverged_at=None, restarts=0, reinits=0,
                                  resumed_from=None)
        val = validation_batches(self.task, spec.task, t, self.e.batch_size)
        rng = {a: tuple(v) for a, v in spec.task["train_range"].items()}
        opt = make_optimizer(self.params, t)
        gen = torch.Generator().manual_seed(spec.data_seed)
        # the last good state, for restarts after divergence: the initial weights until the first validation
        st = TrainState(lr=t.lr, best_state=self.state.best_state,
                        good={"model": copy.deepcopy(self.model.state_dict()), "step": 0, "sequences": 0})
        ckpt, problem = checkpoint.load(self.dir / "last.pt", spec.config_hash(), spec.run_id)
        if problem:
            self.note(problem)
        resumed_from = None
        if ckpt is not None:
            st = checkpoint.restore(ckpt, self.model, opt, gen, self.device)
            resumed_from = st.step
        self.state = st
        curve_path = self.dir / "curve.jsonl"
        write_curve(curve_path, st.curve)  # the curve up to the checkpoint, nothing after it
        start = time.perf_counter() - st.wall_s
        saved_at = time.perf_counter()
        self.model.train()

        def budget_left() -> str | None:  # None while training goes on, else what stopped it
            if st.step >= t.steps:
                return "steps"
            if t.max_sequences is not None and st.sequences >= t.max_sequences:
                return "sequences"
            if t.max_seconds is not None and time.perf_counter() - start >= t.max_seconds:
                return "seconds"
            if (t.target_bit_errors is not None and st.best_val is not None
                    and st.best_val["val_bit_errors"] <= t.target_bit_errors):
                return "target"
            return None

        checked, diverged_at = False, None
        while (stop := budget_left()) is None:
            try:
                batch = to_device(training_batch(self.task, rng, t, st.step, gen), self.device)
                logits = call_model(self.model, batch.inputs, batch.valid)
                if not checked:
                    check_output(logits, batch, self.label)
                    checked = True
                # nats per sequence (bit outputs) or per scored symbol (categorical): ntm_bench.metrics
                loss = output_kind(self.task).loss(logits, batch.targets, batch.mask).mean()
                if not torch.isfinite(loss):
                    raise Diverged(st.step + 1, "the training loss")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                norm = clip_gradients(self.params, t)
                if not math.isfinite(norm):
                    raise Diverged(st.step + 1, "the gradient")
                for g in opt.param_groups:
                    g["lr"] = st.lr * lr_factor(t, st.step)
                opt.step()
                st.step += 1
                st.sequences += t.batch_size
                st.loss_acc += loss.item() / LN2
                st.loss_n += 1
                row = None
                if st.step % t.eval_every == 0 or budget_left() is not None:
                    v = evaluate(self.model, val, self.task, self.device, with_reference=False)
                    if not all(math.isfinite(v[k]) for k in METRICS):
                        raise Diverged(st.step, "the validation cost")
                    row = CurveRow(step=st.step, sequences=st.sequences,
                                   wall_s=round(time.perf_counter() - start, 3),
                                   train_bits=st.loss_acc / max(st.loss_n, 1), lr=st.lr * lr_factor(t, st.step - 1),
                                   **{f"val_{k}": v[k] for k in METRICS}).to_json()
            except Diverged as d:
                if t.on_divergence == "restart" and st.restarts < t.max_restarts:
                    # back to the last good state with a lower learning rate; the data stream goes on
                    st.restarts += 1
                    st.lr *= t.restart_lr_factor
                    self.model.load_state_dict(st.good["model"])
                    opt = make_optimizer(self.params, t)
                    for g in opt.param_groups:
                        g["lr"] = st.lr
                    st.step, st.sequences, st.loss_acc, st.loss_n = st.good["step"], st.good["sequences"], 0.0, 0
                    st.curve = [r for r in st.curve if r["step"] <= st.step]
                    write_curve(curve_path, st.curve)
                    print(f"warning: {spec.run_id}: {d}; restart {st.restarts} of {t.max_restarts} "
                          f"from step {st.step} with lr {st.lr:g}", file=sys.stderr)
                    continue
                self.diverged_what, diverged_at = str(d), d.step
                break
            if row is not None:
                st.loss_acc, st.loss_n = 0.0, 0
                append_jsonl(curve_path, row)
                st.curve.append(clean(row))
                self.logger.log(row)
                if better(row, st.best_val, t.select_by):
                    st.best_val = {k: row[k] for k in row if k.startswith("val_")}
                    st.best_step = st.step
                    st.best_state = copy.deepcopy(self.model.state_dict())
                    atomic_torch_save(self.dir / "best.pt", st.best_state)
                if budget_left() is None and self.on_plateau(row):
                    opt = make_optimizer(self.params, t)
                st.good = {"model": copy.deepcopy(self.model.state_dict()), "step": st.step, "sequences": st.sequences}
                self.progress({"kind": "eval", "step": st.step, "total": t.steps,
                               "best_bit_errors": st.best_val["val_bit_errors"]})
            else:
                self.progress({"kind": "step", "step": st.step, "total": t.steps, "loss": loss.item() / LN2})
            if (st.step % t.checkpoint_every == 0 or budget_left() is not None or
                    (t.checkpoint_seconds is not None and time.perf_counter() - saved_at >= t.checkpoint_seconds)):
                st.wall_s = time.perf_counter() - start
                checkpoint.save(self.dir / "last.pt", st, spec.config_hash(), self.model, opt, gen, self.device)
                saved_at = time.perf_counter()
        return TrainingRecord(steps=st.step, sequences=st.sequences, wall_s=round(time.perf_counter() - start, 3),
                              best_step=st.best_step, best_val=st.best_val,
                              stopped_by="diverged" if self.diverged_what else stop, diverged_at=diverged_at,
                              restarts=st.restarts, resumed_from=resumed_from, reinits=st.reinits)

    def on_plateau(self, row: dict) -> bool:
        """After a validation row: start a new initialisation if this attempt is still on its plateau
        (TrainConfig.reinit_after_sequences). True when it did; the caller makes a fresh optimiser."""
        t, st = self.t, self.state
        if (t.reinit_after_sequences is None or st.reinits >= t.max_reinits
                or st.sequences - st.attempt_from < t.reinit_after_sequences
                or row["val_bit_errors"] <= t.reinit_above_bit_errors):
            return False
        st.reinits += 1
        seed = reinit_seed(self.spec.init_seed, st.reinits)
        fresh = initialised(self.entry, self.task, self.spec.model["options"], seed)
        self.model.load_state_dict(fresh.state_dict())
        print(f"warning: {self.spec.run_id}: validation at {row['val_bit_errors']:.2f} bit errors per sequence "
              f"{st.sequences - st.attempt_from:,} sequences into this initialisation; new initialisation "
              f"{st.reinits} of {t.max_reinits} at step {st.step}", file=sys.stderr)
        st.attempt_from, st.lr = st.sequences, t.lr
        return True

    def test(self) -> list:
        """run_record.EvalRow per test point, of the best checkpoint."""
        self.model.load_state_dict(self.state.best_state)
        return test_rows(self.model, self.task, self.spec.task, self.e, self.device)

    def attention(self):
        """run_record.Fingerprints of one test sequence (attention.pt beside them), or None."""
        fp, self.trace_error = attention(self.model, self.task, self.spec.task, self.e, self.device, self.dir,
                                         self.who)
        if self.trace_error:
            self.note(f"{self.spec.run_id}: no memory picture or fingerprints: {self.trace_error}")
        return fp
