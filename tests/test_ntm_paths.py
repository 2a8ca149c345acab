"""The NTM's code paths (ntm_bench/ntm/ops: plain, python, native) against the literal equations
(tests/ntm_reference.py) and against each other: outputs and gradients in float64, the no-grad
paths, float32 accuracy; and the runtime setting that picks one (never part of a run's identity)."""
import json
import os
from pathlib import Path

import pytest
import torch

from ntm_bench.errors import BenchError
from ntm_bench.ntm import NTM, NTMConfig, ops
from ntm_bench.registry import get_model
from ntm_bench.suite import load_suite, parse_suite
from ntm_reference import reference_forward

SMALL = dict(memory_rows=10, memory_width=5, controller_size=7)
PATHS = ["plain", "python", "native"]


def inputs(B=3, T=9, I=4, dtype=torch.float32, seed=1):
    return torch.randn(B, T, I, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def _native_or_skip():
    from ntm_bench.ntm.ops import native
    if native._compiler() is None:
        pytest.skip("no C++ compiler on this machine: the NTM runs on its Python path")
    assert native.available(), native.error()  # a compiler but no kernels is a bug


def _twins(options: dict, backend: str, other: str = "plain", I: int = 4):
    """A float64 NTM on `backend` with sharper weightings than at initialisation, and one with the
    same parameters on `other`."""
    if "native" in (backend, other):
        _native_or_skip()
    torch.manual_seed(0)
    model = NTM(I, 3, NTMConfig(**{**SMALL, **options}), backend=backend).double()
    with torch.no_grad():
        model.heads.proj.weight.mul_(4)
    twin = NTM(I, 3, NTMConfig(**{**SMALL, **options}), backend=other).double()
    twin.load_state_dict(model.state_dict())
    return model, twin


def _outputs_and_grads(model, fn, x):
    model.zero_grad()
    x = x.clone().requires_grad_()
    y = fn(x)
    (y * torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y)).sum().backward()
    return y.detach(), [p.grad.clone() for p in model.parameters()] + [x.grad]


def _assert_close(y, grads, y_other, grads_other, atol):
    assert torch.allclose(y, y_other, rtol=0, atol=atol)
    for a, b in zip(grads, grads_other):
        assert torch.allclose(a, b, rtol=1e-7, atol=1e-9)


CASES = {
    "default": {},
    "two_read_two_write": dict(read_heads=2, write_heads=2),
    "three_writes_two_layers": dict(read_heads=2, write_heads=3, controller_layers=2),
    "write_first": dict(order="write_first", read_heads=2, write_heads=2),
    "feedforward_linear_wide_shifts": dict(controller="feedforward", key_activation="linear",
                                           add_activation="linear", shifts=(-2, 0, 1, 3)),
    "random_memory_fixed_start": dict(init_memory="random", learned_init_state=False, shifts=(0, 1)),
    "learned_memory_no_clip": dict(init_memory="learned", head_clip=0.0, output_clip=0.0),
    "tight_clip": dict(head_clip=1.0),
    # low enough to act (test_the_weighting_gradient_clip_acts_on_gradients_only)
    "weighting_grad_clip": dict(weighting_grad_clip=0.05, read_heads=2, write_heads=2),
    "weighting_grad_clip_feedforward": dict(controller="feedforward", weighting_grad_clip=0.05),
    "weighting_grad_clip_write_first": dict(order="write_first", weighting_grad_clip=0.05, read_heads=2),
}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("case", list(CASES))
def test_every_path_equals_the_literal_equations_in_outputs_and_gradients(case, path):
    model, _ = _twins(CASES[case], path)
    x = inputs(dtype=torch.float64)
    y, grads = _outputs_and_grads(model, model, x)
    # the accelerated paths cover read-first heads; write-first runs the readable path on any backend
    assert model.code_path == (path if CASES[case].get("order") != "write_first" else "plain")
    assert y.abs().max() > 0.1  # not trivially zero
    _assert_close(y, grads, *_outputs_and_grads(model, lambda x: reference_forward(model, x), x), atol=1e-9)


@pytest.mark.parametrize("case", [c for c in CASES if "weighting_grad_clip" in CASES[c]])
def test_the_weighting_gradient_clip_acts_on_gradients_only(case):
    """In the cases above the clip is low enough to change the gradients (by > 1% of a parameter's
    largest), and it never changes the outputs."""
    options = dict(CASES[case])
    clipped, _ = _twins(options, "plain")
    del options["weighting_grad_clip"]
    free, _ = _twins(options, "plain")
    x = inputs(dtype=torch.float64)
    (y, grads), (y_free, grads_free) = _outputs_and_grads(clipped, clipped, x), _outputs_and_grads(free, free, x)
    assert torch.equal(y, y_free)
    assert max(((a - b).abs().max() / b.abs().max()).item() for a, b in zip(grads, grads_free)) > 0.01


# The controllers the whole-sequence paths run besides a one-layer LSTM (the paper's priority sort
# uses 2 x 100 with 5 + 5 heads, its feed-forward NTMs up to 8 + 8 heads).
LAYOUTS = {
    "lstm_2_layers_2_read_3_write": dict(controller_layers=2, read_heads=2, write_heads=3),
    "lstm_3_layers_wide_shifts": dict(controller_layers=3, read_heads=2, write_heads=2, shifts=(-2, 0, 1, 3)),
    "feedforward_tanh_3_read_2_write": dict(controller="feedforward", read_heads=3, write_heads=2),
    "feedforward_relu_2_read_2_write": dict(controller="feedforward", feedforward_activation="relu",
                                            read_heads=2, write_heads=2),
    "feedforward_sigmoid_2_read_3_write": dict(controller="feedforward", feedforward_activation="sigmoid",
                                               read_heads=2, write_heads=3, key_activation="linear"),
}


def _state_tensors(state):
    """Every tensor of an NTMState, the controller's (h, c) pairs flattened."""
    return [state.memory, state.read_weights, state.write_weights, state.reads,
            *(t for pair in state.controller for t in pair)]


def _grads_through_the_final_state(model, x):
    """Gradients of a loss on the logits and on every tensor of the final state."""
    model.zero_grad()
    x = x.clone().requires_grad_()
    y, state, _ = model.run(x)
    loss = (y * torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y)).sum()
    for k, t in enumerate(_state_tensors(state)):
        loss = loss + (t * torch.linspace(-1, k, t.numel(), dtype=t.dtype).view_as(t)).sum()
    loss.backward()
    return [p.grad.clone() for p in model.parameters()] + [x.grad]


@pytest.mark.parametrize("path", ["python", "native"])
@pytest.mark.parametrize("case", list(LAYOUTS))
def test_whole_sequence_paths_equal_the_readable_one_with_and_without_gradients(case, path):
    """Several LSTM layers and the feed-forward controller: outputs, gradients (through the final
    state too) and the no-grad path (native: the inference that saves nothing per step; python: the
    step loop), float64."""
    fast, plain = _twins(LAYOUTS[case], path)
    x = inputs(dtype=torch.float64)
    y_fast, g_fast = _outputs_and_grads(fast, fast, x)
    assert fast.code_path == path
    _assert_close(y_fast, g_fast, *_outputs_and_grads(plain, plain, x), atol=1e-12)
    for a, b in zip(_grads_through_the_final_state(fast, x), _grads_through_the_final_state(plain, x)):
        assert torch.allclose(a, b, rtol=1e-7, atol=1e-9)
    with torch.no_grad():
        y, state, _ = fast.run(x)
        _, state_plain, _ = plain.run(x)
    assert fast.code_path == path
    assert torch.allclose(y, y_fast, rtol=0, atol=1e-12)
    for a, b in zip(_state_tensors(state), _state_tensors(state_plain)):
        assert torch.allclose(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("options", [{}, dict(controller_layers=2, read_heads=2, write_heads=2),
                                     dict(controller="feedforward", read_heads=2, write_heads=2)],
                         ids=["lstm", "lstm_2_layers", "feedforward"])
def test_every_path_in_float32_is_as_close_to_float64_as_the_readable_one(options):
    _native_or_skip()  # float32 on the kernels uses their own vectorised exp and log
    torch.manual_seed(0)
    models = {path: NTM(9, 8, NTMConfig(**options), backend=path) for path in PATHS}
    with torch.no_grad():
        models["plain"].heads.proj.weight.mul_(4)
    ref = NTM(9, 8, NTMConfig(**options), backend="plain").double()
    for model in (*models.values(), ref):
        model.load_state_dict(models["plain"].state_dict())
    x = inputs(B=8, T=30, I=9)
    y_ref, g_ref = _outputs_and_grads(ref, ref, x.double())
    for path, model in models.items():
        y, g = _outputs_and_grads(model, model, x)
        assert model.code_path == path
        assert (y.double() - y_ref).abs().max() < 1e-5, path
        for name, a, b in zip([n for n, _ in model.named_parameters()], g, g_ref):
            if name != "memory.init_weight_logits":  # tiny, cancelling sums: float32 noise either way
                assert (a.double() - b).abs().max() <= 1e-4 * b.abs().max() + 1e-7, (path, name)


@pytest.mark.parametrize("backend", ["auto", "python", "plain"])
def test_traces_record_every_step_and_match_the_forward_pass(backend):
    torch.manual_seed(0)
    model = NTM(4, 3, NTMConfig(**SMALL, read_heads=2), backend=backend)
    x = inputs()
    with torch.no_grad():
        y = model(x)
        logits, weights = model.trace(x, memory=True)
    # the kernels record nothing: without gradients a trace takes the python step loop
    assert model.code_path == ("plain" if backend == "plain" else "python")
    assert torch.allclose(logits, y, atol=1e-6)
    assert set(weights) == {"read0", "read1", "write0", "memory"} and weights["memory"].shape == (3, 9, 10, 5)
    _, with_grad = model.trace(x)  # with gradients: the readable path, differentiable
    assert model.code_path == "plain" and with_grad["write0"].requires_grad


def test_the_backend_is_a_runtime_setting_from_the_argument_else_the_environment(monkeypatch):
    model = NTM(4, 3, NTMConfig(**SMALL))
    monkeypatch.setenv(ops.ENV_VAR, "plain")
    model(inputs())
    assert model.code_path == "plain"
    monkeypatch.setenv(ops.ENV_VAR, "python")
    model(inputs())
    assert model.code_path == "python"
    assert NTM(4, 3, NTMConfig(**SMALL), backend="plain").cfg == model.cfg  # not part of the configuration
    monkeypatch.setenv(ops.ENV_VAR, "fast")
    with pytest.raises(BenchError, match="NTM_BENCH_NTM_BACKEND.*'fast'.*valid: auto, native, plain, python"):
        model(inputs())
    with pytest.raises(BenchError, match="'fast'.*valid"):
        NTM(4, 3, NTMConfig(**SMALL), backend="fast")


def test_backend_native_fails_clearly_without_the_kernels_and_auto_falls_back(monkeypatch):
    from ntm_bench.ntm.ops import native
    monkeypatch.setattr(native, "_state", {"ok": False, "error": "RuntimeError: no C++ compiler found"})
    torch.manual_seed(0)
    models = {b: NTM(4, 3, NTMConfig(**SMALL), backend=b) for b in ("native", "auto", "python")}
    for m in models.values():
        m.load_state_dict(models["python"].state_dict())
    x = inputs()
    with pytest.raises(BenchError, match="backend 'native'.*no C\\+\\+ compiler"):
        models["native"](x)
    with pytest.warns(UserWarning, match="Python path"):
        y = models["auto"](x)
    assert models["auto"].code_path == "python" and torch.equal(y, models["python"](x))


# ----------------------------------------------------------------------------------------------
# The retired options (NTMConfig's native, fused, fused_sequence, flush_denormals until the backend
# became a runtime setting): still read from older suites and records, as the backend of their runs

@pytest.mark.parametrize("options,path", [({"native": "never"}, "python"), ({"native": "always"}, "native"),
                                          ({"fused": False}, "plain"), ({"fused_sequence": False}, "python"),
                                          ({"native": "auto", "flush_denormals": True}, None)])
def test_retired_options_choose_the_backend_of_their_runs(options, path, monkeypatch, capsys):
    if path == "native":
        _native_or_skip()
    monkeypatch.setenv(ops.ENV_VAR, "plain")  # what the runtime setting says, unless a retired option decides
    model = get_model("ntm").build(4, 3, {**SMALL, **options})
    model(inputs())
    assert model.code_path == (path or "plain")
    assert model.cfg == NTMConfig(**SMALL)


def test_a_retired_option_is_explained_and_one_that_cannot_be_honoured_is_one_clear_error(monkeypatch, capsys):
    from ntm_bench import registry
    monkeypatch.setattr(registry, "_NOTED", set())
    get_model("ntm").make_config({"native": "never"})
    get_model("ntm").make_config({"native": "always"})
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'native' is retired" in err[0] and "--ntm-backend" in err[0]
    with pytest.raises(BenchError, match="flush_denormals: false.*remove the option"):
        get_model("ntm").make_config({"flush_denormals": False})
    with pytest.raises(BenchError, match="'native'.*'sometimes'.*'auto', 'always', 'never'"):
        get_model("ntm").make_config({"native": "sometimes"})


ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ["quick-reference", "quick-reference-amd", "meminit", "graves2014-cpu", "recipe-search/P1",
           "recipe-search/B1p", "recipe-search/S1", "recipe-search/P3"]


@pytest.mark.parametrize("folder", SHIPPED)
def test_shipped_records_keep_their_run_ids_and_config_hashes(folder):
    """Each shipped folder's suite (from its suite.json) gives its recorded runs the config_hash they
    were recorded with, so a rerun skips them; recipe-search/P1 swept the retired option
    models.ntm.options.native=always,never and B1p set native=never."""
    folder = ROOT / "results" / folder
    record = json.loads((folder / "suite.json").read_text())
    raw = {key: record[key] for key in ("name", "seeds", "train", "eval", "overrides", "sweep") if key in record}
    for key in ("tasks", "models"):
        raw[key] = {label: {k: v for k, v in spec.items() if k != "label"} for label, spec in record[key].items()}
    checked = 0
    for spec in parse_suite(raw).runs():
        summary = folder / "runs" / spec.run_id / "summary.json"
        if summary.is_file():
            checked += 1
            assert json.loads(summary.read_text())["config_hash"] == spec.config_hash(), spec.run_id
    assert checked >= 2


def test_the_config_hashes_of_known_configurations_are_pinned():
    """Values computed before the backend left NTMConfig (commit 467b609)."""
    def spec(*overrides, suite="quick", task="copy", model="ntm"):
        return load_suite(suite, list(overrides), tasks=[task], models=[model], seeds=[0]).runs()[0]

    assert spec().config_hash() == PINNED["quick/copy/ntm"]
    assert spec("models.ntm.options.native=never").config_hash() == PINNED["quick/copy/ntm native=never"]
    # graves2014-cpu's priority sort as it was then (its recipe and budget changed since)
    assert spec("tasks.priority_sort.train={steps: 12500, target_bit_errors: null}",
                "overrides=[{model: ntm, train: {lr: 1e-3}}]", suite="graves2014-cpu", task="priority_sort",
                model="ntm").config_hash() == PINNED["graves2014-cpu/priority_sort/ntm"]
    assert spec(suite="quick", task="repeat_copy", model="lstm").config_hash() == PINNED["quick/repeat_copy/lstm"]


PINNED = {"quick/copy/ntm": "5394affda90801f7", "quick/copy/ntm native=never": "35b0d4f6b1a7e0ff",
          "graves2014-cpu/priority_sort/ntm": "e7eb80a6a9ff2013", "quick/repeat_copy/lstm": "9dd729b75c4c1a77"}


def test_the_command_line_backend_is_recorded_per_phase_and_changes_no_run_id(tmp_path, monkeypatch, capsys):
    from ntm_bench.cli import NTM_BACKEND_VAR, NTM_BACKENDS, main
    from ntm_bench.records import read_summary

    assert (NTM_BACKENDS, NTM_BACKEND_VAR) == (ops.BACKENDS, ops.ENV_VAR)  # the CLI's copy, kept free of torch
    monkeypatch.delenv(ops.ENV_VAR, raising=False)
    args = ["run", "smoke", "--tasks", "copy", "--models", "ntm", "--seeds", "0", "--workers", "1", "--no-report",
            "train.steps=2", "train.eval_every=2"]
    assert main([*args, "--out", str(tmp_path / "py"), "--ntm-backend", "python"]) == 0
    assert ops.ENV_VAR not in os.environ  # set for the command only
    assert main([*args, "--out", str(tmp_path / "auto")]) == 0
    py, auto = (read_summary(tmp_path / f / "runs" / "copy__ntm__s0") for f in ("py", "auto"))
    assert py["env"]["code_path"] == {"train": "python", "eval": "python", "trace": "python"}
    kernels = "native" if ops.native.available() else "python"
    assert auto["env"]["code_path"] == {"train": kernels, "eval": kernels, "trace": "python"}
    assert py["config_hash"] == auto["config_hash"]
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "bad"), "--ntm-backend", "fast"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'fast'" in err[0] and "plain" in err[0] and not (tmp_path / "bad").exists()
