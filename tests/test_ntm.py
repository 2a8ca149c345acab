"""The NTM as a whole: state, memory resizing, traces, controllers, presets (its code paths
against the literal equations: test_ntm_paths.py)."""
import pytest
import torch

from ntm_bench.errors import BenchError
from ntm_bench.ntm import NTM, NTMConfig, NTMState
from ntm_bench.ntm.config import PAPER_PARAMS
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
