"""The NTM as a whole: state, memory resizing, traces, controllers, presets, and the fast path
against a literal implementation of the equations (outputs and gradients, float64)."""
import dataclasses

import pytest
import torch

from ntm_bench.errors import BenchError
from ntm_bench.ntm import NTM, NTMConfig, NTMState
from ntm_bench.ntm.config import PAPER_PARAMS
from ntm_bench.ntm.reference import reference_forward
from ntm_bench.registry import get_model

TASK_SIZES = {"copy": (9, 8), "repeat_copy": (9, 9), "associative_recall": (8, 6),
              "dynamic_ngrams": (2, 1), "priority_sort": (10, 8)}
SMALL = dict(memory_rows=10, memory_width=5, controller_size=7)


def inputs(B=3, T=9, I=4, dtype=torch.float32, seed=1):
    return torch.randn(B, T, I, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def build(seed=0, I=4, O=3, **options):
    torch.manual_seed(seed)
    return NTM(I, O, NTMConfig(**{**SMALL, **options}))


def test_state_tensors_have_the_documented_shapes():
    m = build(read_heads=2, write_heads=3, controller_layers=2)
    x = inputs(B=3)
    s0 = m.initial_state(3, x)
    logits, s1, _ = m.run(x)
    assert logits.shape == (3, 9, 3)
    for s in (s0, s1):
        assert isinstance(s, NTMState)
        assert s.memory.shape == (3, 10, 5)
        assert s.read_weights.shape == (3, 2, 10)
        assert s.write_weights.shape == (3, 3, 10)
        assert s.reads.shape == (3, 2, 5)
        assert [tuple(t.shape) for hc in s.controller for t in hc] == [(3, 7)] * 4
    assert torch.allclose(s1.read_weights.sum(-1), torch.ones(3, 2))


CONTROLLERS = {"lstm": {}, "lstm_2_layers": dict(controller_layers=2), "feedforward": dict(controller="feedforward")}


@pytest.mark.parametrize("controller", list(CONTROLLERS))
def test_stepping_with_explicit_state_equals_one_run(controller):
    m = build(**CONTROLLERS[controller])
    x = inputs()
    whole = m(x)
    state = m.initial_state(3, x)
    steps = []
    for t in range(x.shape[1]):
        y, state = m.step(x[:, t], state)
        steps.append(y)
    assert torch.allclose(torch.stack(steps, 1), whole, atol=1e-6)


def test_outputs_of_one_sequence_do_not_depend_on_the_others_in_the_batch():
    m = build()
    x = inputs(B=4)
    y = m(x)
    x2 = x.clone()
    x2[1:] = torch.randn_like(x2[1:])
    assert torch.allclose(m(x2)[0], y[0], atol=1e-6)
    assert not torch.allclose(m(x2)[1], y[1], atol=1e-3)


def test_memory_trained_at_16_rows_can_be_read_at_64_with_a_constant_initial_memory():
    m = build(memory_rows=16)
    assert m.can_resize_memory() and m.memory_rows == 16
    m.set_memory_rows(64)
    assert m.memory_rows == 64
    x = inputs(T=20)
    logits, state, _ = m.run(x)
    assert torch.isfinite(logits).all()
    assert state.memory.shape == (3, 64, 5)
    _, traces = m.trace(x)
    assert traces["read0"].shape == (3, 20, 64)
    assert torch.allclose(traces["write0"].sum(-1), torch.ones(3, 20), atol=1e-5)


def test_learned_initial_weightings_give_new_rows_almost_no_initial_weight():
    m = build(memory_rows=16)
    m.set_memory_rows(64)
    _, w, _ = m.memory.initial(2, inputs())
    assert w.shape == (2, 2, 64)
    assert w[..., 16:].max() < 1e-20
    assert torch.allclose(w.sum(-1), torch.ones(2, 2))


def test_a_learned_initial_memory_cannot_be_resized():
    m = build(memory_rows=16, init_memory="learned")
    assert not m.can_resize_memory()
    with pytest.raises(BenchError, match="learned"):
        m.set_memory_rows(64)
    m.set_memory_rows(16)  # same size is fine


def test_a_random_initial_memory_keeps_its_first_rows_when_enlarged():
    m = build(memory_rows=16, init_memory="random")
    before = m.memory.initial(1, inputs())[0][0].clone()
    m.set_memory_rows(300)
    after = m.memory.initial(1, inputs())[0][0]
    assert after.shape == (300, 5)
    assert torch.equal(after[:16], before)
    assert after[16:].abs().sum() > 0


def test_trace_returns_per_step_weightings_that_sum_to_one():
    m = build(read_heads=2, write_heads=1)
    logits, traces = m.trace(inputs(T=7))
    assert set(traces) == {"read0", "read1", "write0"}
    for w in traces.values():
        assert w.shape == (3, 7, 10)
        assert torch.allclose(w.sum(-1), torch.ones(3, 7), atol=1e-5)
        assert (w >= 0).all()
    assert torch.allclose(logits, m(inputs(T=7)), atol=1e-6)
    _, with_memory = m.trace(inputs(T=7), memory=True)
    assert with_memory["memory"].shape == (3, 7, 10, 5)


@pytest.mark.parametrize("controller", ["lstm", "feedforward"])
def test_both_controllers_build_run_and_train_every_parameter(controller):
    m = build(controller=controller)
    y = m(inputs())
    assert y.shape == (3, 9, 3) and torch.isfinite(y).all()
    y.square().sum().backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("preset", ["graves2014", "graves2014_ff"])
def test_paper_presets_build_for_every_task_near_the_papers_parameter_counts(preset):
    entry = get_model("ntm")
    for task, (i, o) in TASK_SIZES.items():
        spec = entry.presets[preset][task]
        m = entry.build(i, o, spec["options"])
        assert m.cfg.memory_rows == 128 and m.cfg.memory_width == 20
        assert spec["train"]["lr"] in (1e-4, 3e-5)
        n = sum(p.numel() for p in m.parameters())
        # The paper's counts depend on input sizes it does not state; ours are 79-96% of them.
        assert 0.75 < n / PAPER_PARAMS[preset][task] < 1.0, (task, n)
        assert m(torch.zeros(2, 3, i)).shape == (2, 3, o)


def test_the_tiny_preset_builds_for_any_task():
    entry = get_model("ntm")
    m = entry.build(9, 8, entry.presets["tiny"]["*"]["options"])
    assert m.memory_rows == 8 and sum(p.numel() for p in m.parameters()) < 2000


def test_bad_options_raise_bench_errors_naming_the_choices():
    entry = get_model("ntm")
    with pytest.raises(BenchError, match="lstm"):
        entry.build(9, 8, {"controller": "gru"})
    with pytest.raises(BenchError, match="memory_rows"):
        entry.build(9, 8, {"memory_rows": 0})
    with pytest.raises(BenchError, match="shape"):
        build()(torch.zeros(2, 3, 5))


def test_extreme_head_parameters_stay_finite_in_float32():
    m = build()
    with torch.no_grad():
        m.heads.proj.weight.mul_(1000)  # every head parameter hits the +-20 clip
    y = m(inputs(T=30))
    y.sum().backward()
    assert torch.isfinite(y).all()
    assert all(torch.isfinite(p.grad).all() for p in m.parameters())


CASES = {
    "default": {},
    "two_read_two_write": dict(read_heads=2, write_heads=2),
    "three_writes_two_layers": dict(read_heads=2, write_heads=3, controller_layers=2),
    "write_first": dict(order="write_first", read_heads=2, write_heads=2),
    "feedforward_linear_wide_shifts": dict(controller="feedforward", key_activation="linear",
                                           add_activation="linear", shifts=(-2, 0, 1, 3)),
    "random_memory_fixed_start": dict(init_memory="random", learned_init_state=False, shifts=(0, 1)),
    "learned_memory_no_clip": dict(init_memory="learned", head_clip=0.0, output_clip=0.0),
}


def _outputs_and_grads(model, fn, x):
    model.zero_grad()
    x = x.clone().requires_grad_()
    y = fn(x)
    (y * torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y)).sum().backward()
    return y.detach(), [p.grad.clone() for p in model.parameters()] + [x.grad]


def _twins(cfg: NTMConfig, **changes):
    """A float64 NTM with sharper weightings than at initialisation, and one with the same
    parameters whose options differ by `changes`."""
    torch.manual_seed(0)
    model = NTM(4, 3, cfg).double()
    with torch.no_grad():
        model.heads.proj.weight.mul_(4)
    twin = NTM(4, 3, dataclasses.replace(cfg, **changes)).double()
    twin.load_state_dict(model.state_dict())
    return model, twin


def _assert_close(y, grads, y_other, grads_other, atol):
    assert torch.allclose(y, y_other, rtol=0, atol=atol)
    for a, b in zip(grads, grads_other):
        assert torch.allclose(a, b, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("case", list(CASES))
def test_fast_path_equals_the_literal_equations_in_outputs_and_gradients(case):
    fast, plain = _twins(NTMConfig(**{**SMALL, **CASES[case]}), fused=False)
    x = inputs(dtype=torch.float64)
    y_fast, g_fast = _outputs_and_grads(fast, fast, x)
    assert y_fast.abs().max() > 0.1  # not trivially zero
    _assert_close(y_fast, g_fast, *_outputs_and_grads(plain, plain, x), atol=1e-9)
    _assert_close(y_fast, g_fast, *_outputs_and_grads(fast, lambda x: reference_forward(fast, x), x), atol=1e-9)


# The controllers the whole-sequence path runs besides a one-layer LSTM (the paper's priority sort
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


@pytest.mark.parametrize("native", ["never", "always"])
@pytest.mark.parametrize("case", list(LAYOUTS))
def test_whole_sequence_path_equals_the_per_step_path_and_the_literal_equations(case, native):
    """Several LSTM layers and the feed-forward controller, on the C++ kernels and on the Python
    path: outputs, gradients (through the final state too) and the no-grad path, float64."""
    if native == "always":
        _native_or_skip()
    whole, per_step = _twins(NTMConfig(**{**SMALL, **LAYOUTS[case]}, native=native), fused_sequence=False)
    x = inputs(dtype=torch.float64)
    y_whole, g_whole = _outputs_and_grads(whole, whole, x)
    assert whole.kernels == ("native" if native == "always" else "python")
    assert y_whole.abs().max() > 0.1  # not trivially zero
    _assert_close(y_whole, g_whole, *_outputs_and_grads(per_step, per_step, x), atol=1e-12)
    _assert_close(y_whole, g_whole, *_outputs_and_grads(whole, lambda x: reference_forward(whole, x), x), atol=1e-12)
    for a, b in zip(_grads_through_the_final_state(whole, x), _grads_through_the_final_state(per_step, x)):
        assert torch.allclose(a, b, rtol=1e-7, atol=1e-9)
    with torch.no_grad():  # native: the inference path that saves nothing per step; python: the step loop
        y, state, _ = whole.run(x)
        _, state_step, _ = per_step.run(x)
    assert torch.allclose(y, y_whole, rtol=0, atol=1e-12)
    for a, b in zip(_state_tensors(state), _state_tensors(state_step)):
        assert torch.allclose(a, b, rtol=0, atol=1e-12)


NATIVE_CASES = {  # every option the C++ kernels read (read first)
    "default": {},
    "two_read_three_write": dict(read_heads=2, write_heads=3),
    "linear_wide_shifts": dict(key_activation="linear", add_activation="linear", shifts=(-2, 0, 1, 3)),
    "fixed_start_shifts_0_1": dict(init_memory="random", learned_init_state=False, shifts=(0, 1)),
    "learned_memory_no_clip": dict(init_memory="learned", head_clip=0.0, output_clip=0.0),
    "tight_clip": dict(head_clip=1.0),
    **LAYOUTS,
}


def _native_or_skip():
    from ntm_bench.ntm import native
    if native._compiler() is None:
        pytest.skip("no C++ compiler on this machine: the NTM runs on its Python path")
    assert native.available(), native.error()  # a compiler but no kernels is a bug


@pytest.mark.parametrize("case", list(NATIVE_CASES))
def test_native_kernels_equal_the_python_path_in_outputs_and_gradients(case):
    _native_or_skip()
    nat, py = _twins(NTMConfig(**{**SMALL, **NATIVE_CASES[case]}, native="always"), native="never")
    x = inputs(dtype=torch.float64)
    y_nat, g_nat = _outputs_and_grads(nat, nat, x)
    y_py, g_py = _outputs_and_grads(py, py, x)
    _assert_close(y_nat, g_nat, y_py, g_py, atol=1e-12)
    with torch.no_grad():  # the inference path saves nothing per step, same outputs
        assert torch.allclose(nat(x), y_py, rtol=0, atol=1e-12)


@pytest.mark.parametrize("options", [{}, dict(controller_layers=2, read_heads=2, write_heads=2),
                                     dict(controller="feedforward", read_heads=2, write_heads=2)],
                         ids=["lstm", "lstm_2_layers", "feedforward"])
def test_native_kernels_in_float32_are_as_close_to_float64_as_the_python_path(options):
    _native_or_skip()  # float32 uses the kernels' own vectorised exp and log
    torch.manual_seed(0)
    nat = NTM(9, 8, NTMConfig(**options, native="always"))
    with torch.no_grad():
        nat.heads.proj.weight.mul_(4)
    py = NTM(9, 8, NTMConfig(**options, native="never"))
    py.load_state_dict(nat.state_dict())
    ref = NTM(9, 8, NTMConfig(**options, native="never")).double()
    ref.load_state_dict(nat.state_dict())
    x = inputs(B=8, T=30, I=9)
    y_ref, g_ref = _outputs_and_grads(ref, ref, x.double())
    for model in (nat, py):
        y, g = _outputs_and_grads(model, model, x)
        assert (y.double() - y_ref).abs().max() < 1e-5
        for name, a, b in zip([n for n, _ in model.named_parameters()], g, g_ref):
            if name != "memory.init_weight_logits":  # tiny, cancelling sums: float32 noise either way
                assert (a.double() - b).abs().max() <= 1e-4 * b.abs().max() + 1e-7, name


def test_native_always_fails_clearly_without_the_kernels_and_auto_falls_back(monkeypatch):
    from ntm_bench.ntm import native
    monkeypatch.setattr(native, "_state", {"ok": False, "error": "RuntimeError: no C++ compiler found"})
    x = inputs()
    with pytest.raises(BenchError, match="native='always'.*no C\\+\\+ compiler"):
        build(native="always")(x)
    with pytest.warns(UserWarning, match="Python path"):
        y = build(native="auto")(x)
    assert torch.equal(y, build(native="never")(x))
    with pytest.raises(BenchError, match="native.*valid"):
        NTMConfig(native="fast")
