"""A model that sees later inputs (a Transformer with `causal: false`) is refused, before any run
starts, on every task where a later input reveals an earlier target (Task.noncausal_leak), and
allowed on the others. Each built-in task's declaration is checked against its batches: a task that
refuses shows the leak, a task that allows gives blank inputs wherever a target is due."""
import pytest
import torch

from ntm_bench import Task, registry
from ntm_bench.cli import main
from ntm_bench.errors import BenchError
from ntm_bench.suite import load_suite

BUILTIN_TASKS = registry.task_names()  # at collection time: the built-ins only


def _batch(name: str, n: int = 16):
    """A batch of mixed points over the task's default training range, seed 0."""
    task = registry.get_task(name).cls()
    gen = torch.Generator().manual_seed(0)
    cols = [torch.randint(lo, hi + 1, (n,), generator=gen).tolist() for lo, hi in task.default_train.values()]
    points = [p[0] if len(p) == 1 else tuple(p) for p in zip(*cols)]
    return task.sample(n, points, gen)


def _ngrams_input_is_the_previous_target(b):
    # every step is scored: the input at t+1 (previous bit) is the target at t
    valid = b.valid[:, 1:] & b.valid[:, :-1]
    return bool(valid.any()) and torch.equal(b.inputs[:, 1:, 0][valid], b.targets[:, :-1, 0][valid])


def _repeat_copy_end_marker_is_the_last_valid_step(b):
    # where the valid steps end says where the end marker is due, without counting
    last = b.valid.long().cumsum(1).argmax(1)  # (B,) index of the last valid step
    marker = b.targets[..., -1]  # (B, T) the end-marker channel
    return bool((marker.sum(1) == 1).all()) and torch.equal(marker.argmax(1), last)


LEAKS = {  # each refusing built-in task: a check that its batches really leak
    "dynamic_ngrams": _ngrams_input_is_the_previous_target,
    "repeat_copy": _repeat_copy_end_marker_is_the_last_valid_step,
}


@pytest.mark.parametrize("name", BUILTIN_TASKS)
def test_every_built_in_task_declares_whether_later_inputs_leak_its_targets(name):
    cls = registry.get_task(name).cls
    declared = any("noncausal_leak" in vars(k) for k in cls.__mro__ if k is not Task)  # a family's base may
    assert declared, f"task {name!r} inherits the default: reason about it and declare it"
    b = _batch(name)
    if cls.noncausal_leak is None:
        # nothing after the question: every step where a target is due gets the same blank input
        # (zeros on the bit tasks, the "empty" symbol on the Chomsky tasks)
        due = b.inputs[b.mask]
        assert b.mask.any() and (due == due[0]).all()
        assert name not in LEAKS
    else:
        assert LEAKS[name](b), f"task {name!r} refuses non-causal models but its batches show no leak"


@pytest.mark.parametrize("name", BUILTIN_TASKS)
def test_a_bidirectional_transformer_is_refused_on_exactly_the_tasks_it_would_read_the_targets_of(name):
    args = (["models.transformer.options.causal=false"], [name], ["transformer"])
    leak = registry.get_task(name).cls.noncausal_leak
    if leak is None:
        (run,) = load_suite("smoke", *args).runs()
        assert run.model["options"]["causal"] is False
    else:
        with pytest.raises(BenchError, match=f"model 'transformer' sees later inputs .*task '{name}' does not allow"):
            load_suite("smoke", *args)
    load_suite("smoke", tasks=[name], models=["transformer"])  # causal (the default) runs everywhere


@pytest.mark.parametrize("name", [n for n in BUILTIN_TASKS if registry.get_task(n).cls.noncausal_leak])
def test_the_refusal_is_one_line_exit_2_and_writes_nothing(name, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["run", "smoke", "--tasks", name, "--models", "transformer", "--out", str(out), "--no-report",
               "models.transformer.options.causal=false"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error: model 'transformer' sees later inputs")
    assert registry.get_task(name).cls.noncausal_leak in err[0]
    assert not out.exists()


def test_selecting_only_allowed_tasks_runs_a_bidirectional_transformer_and_a_sweep_point_is_refused():
    allowed = [n for n in BUILTIN_TASKS if registry.get_task(n).cls.noncausal_leak is None]
    runs = load_suite("smoke", ["models.transformer.options.causal=false"], tasks=allowed,
                      models=["transformer"]).runs()
    assert {r.task["task"] for r in runs} == set(allowed)
    with pytest.raises(BenchError, match="sweep point causal=False of dynamic_ngrams/transformer"):
        load_suite("smoke", ["sweep.models.transformer.options.causal=[true,false]"], tasks=["dynamic_ngrams"])
    # an override that keeps it causal on the leaking task is the way to keep the pair
    load_suite("smoke", ["models.transformer.options.causal=false",
                         "overrides=[{model: transformer, task: dynamic_ngrams, options: {causal: true}}]"],
               tasks=["copy", "dynamic_ngrams"], models=["transformer"])


def test_plugins_declare_it_too(tmp_path):
    """A plugin task that does not declare it refuses non-causal models; a plugin model registered
    with causal=False is refused where targets leak; causal must name a real option."""
    snap = registry.reset_for_tests()
    try:
        (tmp_path / "p.py").write_text(
            "from dataclasses import dataclass\nfrom ntm_bench import register_model\nfrom tasks.copy import Copy\n"
            "from ntm_bench import register_task\nimport torch\n\n"
            "@register_task('copy_undeclared')\n@dataclass(frozen=True)\nclass CopyUndeclared(Copy):\n"
            "    noncausal_leak = Copy.__mro__[1].noncausal_leak  # the base class's default\n\n"
            "@register_model('lookahead', causal=False)\nclass Lookahead(torch.nn.Module):\n"
            "    def __init__(self, i, o):\n        super().__init__(); self.w = torch.nn.Linear(i, o)\n"
            "    def forward(self, x, valid=None):\n        return self.w(x.flip(1)).flip(1)\n")
        registry.load_plugin(tmp_path / "p.py")
        assert registry.get_model("lookahead").is_causal(None) is False
        with pytest.raises(BenchError, match="'lookahead' sees later inputs \\(registered with causal=False\\)"):
            load_suite("smoke", tasks=["dynamic_ngrams"], models=["lookahead"])
        with pytest.raises(BenchError, match="task 'copy_undeclared' does not allow: it does not declare"):
            load_suite("smoke", tasks=["copy_undeclared"], models=["lookahead"])
        load_suite("smoke", tasks=["copy"], models=["lookahead"])
        with pytest.raises(BenchError, match="causal='sees_ahead' names no option"):
            registry.register_model("bad", causal="sees_ahead")
    finally:
        registry.reset_for_tests(snap)
