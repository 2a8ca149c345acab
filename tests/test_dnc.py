"""The DNC (baselines/dnc.py, dnc_memory.py, dnc_native.py): hand-computed cases on small memories,
the whole model against a literal loop-by-loop implementation of the paper's equations (kept here),
gradient checks in float64, the C++ link kernel against the torch path, and bad options."""
import json
import math

import pytest
import torch

from baselines import dnc_memory as mem
from baselines import dnc_native
from baselines.dnc import DNC, DNCConfig
from ntm_bench.cli import main
from ntm_bench.errors import BenchError

torch.set_num_threads(1)
D = torch.float64
KERNEL = dnc_native.available()
needs_kernel = pytest.mark.skipif(not KERNEL, reason="the DNC's C++ link kernel did not build here")


def t(*rows):
    return torch.tensor(rows, dtype=D)


# ---------------------------------------------------------------------------------------------
# Hand-computed cases

def test_allocation_gives_the_least_used_row_its_free_share_and_breaks_ties_by_row_index():
    # usage 0.4, 0.2, 0.2, 1.0: free list (ascending, ties by index) = rows 1, 2, 0, 3
    a = mem.allocation_weighting(t([0.4, 0.2, 0.2, 1.0]))
    # a[1] = 1 - 0.2; a[2] = (1 - 0.2) * 0.2; a[0] = (1 - 0.4) * 0.2 * 0.2; a[3] = 0 * ... = 0
    torch.testing.assert_close(a, t([0.6 * 0.04, 0.8, 0.16, 0.0]))


def test_allocation_of_an_empty_memory_is_row_zero_then_equal_usages_go_in_row_order():
    torch.testing.assert_close(mem.allocation_weighting(t([0.0, 0.0, 0.0])), t([1.0, 0.0, 0.0]))
    torch.testing.assert_close(mem.allocation_weighting(t([0.5, 0.5, 0.5])), t([0.5, 0.25, 0.125]))


def test_allocation_of_a_fully_used_memory_is_zero_everywhere():
    torch.testing.assert_close(mem.allocation_weighting(t([1.0, 1.0, 1.0, 1.0])), t([0.0, 0.0, 0.0, 0.0]))


def test_usage_grows_with_the_last_write_and_shrinks_where_a_read_head_frees():
    u = mem.usage_update(t([0.5, 0.0, 1.0, 0.2]), t([0.5, 1.0, 0.0, 0.0]),
                         torch.tensor([[[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]], dtype=D), t([0.5, 0.0]))
    # u + w - u w = 0.75, 1, 1, 0.2; retention psi = (1 - 0.5 * read0) (1 - 0 * read1) = 1, 1, 0.5, 1
    torch.testing.assert_close(u, t([0.75, 1.0, 0.5, 0.2]))


def test_links_record_the_order_of_three_one_hot_writes_and_the_read_modes_follow_them():
    N = 3
    link, p = torch.zeros(1, N, N, dtype=D), torch.zeros(1, N, dtype=D)
    for row in range(N):
        w = torch.zeros(1, N, dtype=D)
        w[0, row] = 1
        link, p = mem.link_update(link, p, w), mem.precedence_update(p, w)
    # L[i, j] = 1: row i was written right after row j
    torch.testing.assert_close(link[0], t([0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]))
    torch.testing.assert_close(p, t([0.0, 0.0, 1.0]))
    fwd, bwd = mem.directional_weightings(link, torch.tensor([[[1.0, 0, 0], [0, 1.0, 0]]], dtype=D))
    torch.testing.assert_close(fwd[0], t([0.0, 1.0, 0.0], [0.0, 0.0, 1.0]))  # forward: the next row written
    torch.testing.assert_close(bwd[0], t([0.0, 0.0, 0.0], [1.0, 0.0, 0.0]))  # backward: the one before


def test_a_soft_write_updates_the_link_matrix_and_precedence_as_the_equations_say():
    link = t([0.0, 0.5], [0.25, 0.0]).unsqueeze(0)
    p_prev, w = t([0.2, 0.4]), t([0.1, 0.3])
    new = mem.link_update(link, p_prev, w)
    # L[0,1] = (1 - 0.1 - 0.3) 0.5 + 0.1 * 0.4; L[1,0] = (1 - 0.3 - 0.1) 0.25 + 0.3 * 0.2; diagonal 0
    torch.testing.assert_close(new[0], t([0.0, 0.34], [0.21, 0.0]))
    # p = (1 - 0.4) p_prev + w
    torch.testing.assert_close(mem.precedence_update(p_prev, w), t([0.22, 0.54]))


def test_read_modes_mix_backward_content_and_forward_weightings():
    b, c, f = (torch.eye(3, dtype=D)[i].view(1, 1, 3) for i in range(3))
    w = mem.read_weighting(b, c, f, torch.tensor([[[0.2, 0.5, 0.3]]], dtype=D))
    torch.testing.assert_close(w[0, 0], t(0.2, 0.5, 0.3))


def test_the_interface_vector_has_the_papers_size_and_activations():
    W, R = 3, 2
    assert mem.interface_size(W, R) == W * R + 3 * W + 5 * R + 3 == 28
    it = mem.split_interface(torch.zeros(1, 28, dtype=D), W, R)
    assert it.read_keys.shape == (1, R, W) and it.read_modes.shape == (1, R, 3)
    torch.testing.assert_close(it.read_strengths, torch.full((1, R), 1 + math.log(2), dtype=D))  # oneplus(0)
    torch.testing.assert_close(it.write_strength, torch.full((1,), 1 + math.log(2), dtype=D))
    for gate in (it.erase, it.free_gates, it.allocation_gate, it.write_gate):
        assert torch.all(gate == 0.5)  # sigmoid(0)
    torch.testing.assert_close(it.read_modes, torch.full((1, R, 3), 1 / 3, dtype=D))  # softmax over 3 modes


def test_content_lookup_is_a_softmax_of_strength_times_cosine():
    memory = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]]], dtype=D)
    w = mem.content_weighting(memory, mem.row_norms(memory), t([1.0, 0.0]).view(1, 1, 2), t([2.0]).view(1, 1))
    cos = torch.tensor([1.0, 0.0, 1 / math.sqrt(2)], dtype=D)
    torch.testing.assert_close(w[0, 0], torch.softmax(2 * cos, 0), atol=1e-5, rtol=0)  # eps in the norms


def test_a_write_erases_then_adds_in_proportion_to_the_write_weighting():
    memory = torch.ones(1, 2, 2, dtype=D)
    new = mem.write_memory(memory, t([1.0, 0.5]).view(1, 2), t([1.0, 0.0]).view(1, 2), t([3.0, 4.0]).view(1, 2))
    # row 0: 1 * (1 - 1 * e) + 1 * v = (3, 5); row 1: (1 - 0.5 e) + 0.5 v = (2, 3)
    torch.testing.assert_close(new[0], t([3.0, 5.0], [2.0, 3.0]))


# ---------------------------------------------------------------------------------------------
# The whole model against a literal implementation of the equations

def literal_dnc(model: DNC, x: torch.Tensor) -> torch.Tensor:
    """The DNC of Graves et al. 2016 (Methods) written as loops over sequences, rows and columns,
    one equation at a time, with the model's weights. Returns the logits (B, T, O)."""
    cfg = model.cfg
    B, T, _ = x.shape
    N, W, R, C = model.memory_rows, cfg.word_size, cfg.read_heads, cfg.controller_size
    logits = torch.zeros(B, T, model.output_size, dtype=x.dtype)
    sig, eps = torch.sigmoid, mem.NORM_EPS

    def cosine(u, v):
        return float(u @ v) / (math.sqrt(float(u @ u) + eps) * math.sqrt(float(v @ v) + eps))

    def lookup(M, key, beta):
        scores = torch.tensor([beta * cosine(key, M[i]) for i in range(N)], dtype=x.dtype)
        e = torch.exp(scores - scores.max())
        return e / e.sum()

    for b in range(B):
        M = torch.zeros(N, W, dtype=x.dtype)
        u, p, ww = (torch.zeros(N, dtype=x.dtype) for _ in range(3))
        L = torch.zeros(N, N, dtype=x.dtype)
        wr, r = torch.zeros(R, N, dtype=x.dtype), torch.zeros(R, W, dtype=x.dtype)
        h, c = torch.zeros(C, dtype=x.dtype), torch.zeros(C, dtype=x.dtype)
        for step in range(T):
            g = model.w_x @ x[b, step] + model.w_rh @ torch.cat([r.reshape(-1), h]) + model.bias
            i_g, f_g, o_g, cand = sig(g[:C]), sig(g[C:2 * C]), sig(g[2 * C:3 * C]), torch.tanh(g[3 * C:])
            c = f_g * c + i_g * cand
            h = o_g * torch.tanh(c)
            xi = (model.interface.weight @ h + model.interface.bias).clamp(-cfg.clip, cfg.clip)
            pos = 0

            def take(n):
                nonlocal pos
                pos += n
                return xi[pos - n:pos]
            k_r = [take(W) for _ in range(R)]
            beta_r = [1 + math.log1p(math.exp(float(v))) for v in take(R)]
            k_w, beta_w = take(W), 1 + math.log1p(math.exp(float(take(1)[0])))
            e, v, free = sig(take(W)), take(W), sig(take(R))
            g_a, g_w = float(sig(take(1))[0]), float(sig(take(1))[0])
            pi = [torch.softmax(take(3), 0) for _ in range(R)]
            # usage with retention, then the allocation from the free list
            psi = torch.ones(N, dtype=x.dtype)
            for i in range(R):
                for n in range(N):
                    psi[n] *= 1 - free[i] * wr[i, n]
            u = torch.stack([(u[n] + ww[n] - u[n] * ww[n]) * psi[n] for n in range(N)])
            phi = sorted(range(N), key=lambda n: (float(u[n]), n))
            a = torch.zeros(N, dtype=x.dtype)
            for j, n in enumerate(phi):
                a[n] = (1 - u[n]) * math.prod(float(u[phi[k]]) for k in range(j))
            cw = lookup(M, k_w, beta_w)
            ww = g_w * (g_a * a + (1 - g_a) * cw)
            M = torch.stack([torch.stack([M[n, m] * (1 - ww[n] * e[m]) + ww[n] * v[m] for m in range(W)])
                             for n in range(N)])
            L_new = torch.zeros(N, N, dtype=x.dtype)
            for i in range(N):
                for j in range(N):
                    if i != j:
                        L_new[i, j] = (1 - ww[i] - ww[j]) * L[i, j] + ww[i] * p[j]
            L = L_new
            p = (1 - ww.sum()) * p + ww
            new_wr = torch.zeros(R, N, dtype=x.dtype)
            for i in range(R):
                fwd = torch.stack([sum(L[n, j] * wr[i, j] for j in range(N)) for n in range(N)])
                bwd = torch.stack([sum(L[j, n] * wr[i, j] for j in range(N)) for n in range(N)])
                new_wr[i] = pi[i][0] * bwd + pi[i][1] * lookup(M, k_r[i], beta_r[i]) + pi[i][2] * fwd
            wr = new_wr
            r = torch.stack([sum(M[n] * wr[i, n] for n in range(N)) for i in range(R)])
            out = model.output.weight @ torch.cat([h, r.reshape(-1)]) + model.output.bias
            logits[b, step] = out.clamp(-cfg.clip, cfg.clip)
    return logits


def tiny(native="never", **kw) -> DNC:
    torch.manual_seed(0)
    cfg = DNCConfig(**{"memory_rows": 5, "word_size": 3, "read_heads": 2, "controller_size": 6, "native": native, **kw})
    return DNC(4, 3, cfg).double()


@pytest.mark.parametrize("native", ["never", pytest.param("always", marks=needs_kernel)])
def test_the_model_equals_a_literal_implementation_of_the_papers_equations(native):
    model = tiny(native)
    x = torch.rand(2, 7, 4, dtype=D, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(model(x), literal_dnc(model, x), atol=1e-10, rtol=1e-9)


# ---------------------------------------------------------------------------------------------
# Gradients

def test_allocation_gradients_match_finite_differences_away_from_ties():
    u = torch.tensor([[0.3, 0.1, 0.7, 0.5, 0.05]], dtype=D, requires_grad=True)
    assert torch.autograd.gradcheck(mem.allocation_weighting, (u,))


def test_the_link_step_gradients_match_finite_differences_on_both_paths():
    g = torch.Generator().manual_seed(0)
    link = (torch.rand(2, 4, 4, dtype=D, generator=g) * (1 - torch.eye(4, dtype=D))).requires_grad_()
    p = (torch.rand(2, 4, dtype=D, generator=g) / 4).requires_grad_()
    w = (torch.rand(2, 4, dtype=D, generator=g) / 4).requires_grad_()
    wr = torch.rand(2, 3, 4, dtype=D, generator=g).requires_grad_()
    assert torch.autograd.gradcheck(lambda *a: dnc_native.link_step(*a, native=False), (link, p, w, wr))
    if KERNEL:
        assert torch.autograd.gradcheck(lambda *a: dnc_native.link_step(*a, native=True), (link, p, w, wr))


@needs_kernel
def test_the_link_kernel_equals_the_torch_path_in_float32():
    g = torch.Generator().manual_seed(2)
    link = torch.rand(3, 16, 16, generator=g) * (1 - torch.eye(16))
    args = (link, torch.rand(3, 16, generator=g) / 16, torch.rand(3, 16, generator=g) / 16, torch.rand(3, 4, 16, generator=g))
    for a, b in zip(dnc_native.link_step(*args, native=True), dnc_native.link_step(*args, native=False)):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("native", ["never", pytest.param("always", marks=needs_kernel)])
def test_the_whole_dnc_passes_gradcheck_in_float64(native):
    model = tiny(native, memory_rows=4)
    x = torch.rand(1, 5, 4, dtype=D, generator=torch.Generator().manual_seed(3), requires_grad=True)
    assert torch.autograd.gradcheck(lambda inp: model(inp), (x,))


@needs_kernel
def test_parameter_gradients_are_the_same_on_the_kernel_and_the_torch_path():
    x = torch.rand(2, 9, 4, dtype=D, generator=torch.Generator().manual_seed(4))
    grads = []
    for native in ("always", "never"):
        model = tiny(native)
        model(x).square().sum().backward()
        grads.append({n: p.grad for n, p in model.named_parameters()})
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], atol=1e-10, rtol=1e-8, msg=name)


# ---------------------------------------------------------------------------------------------
# State, memory size, trace

def test_the_memory_can_grow_for_evaluation_and_the_state_follows_it():
    model = tiny()
    model.set_memory_rows(11)
    logits, state, _ = model.run(torch.rand(2, 6, 4, dtype=D))
    assert model.memory_rows == 11 and model.can_resize_memory()
    assert state.memory.shape == (2, 11, 3) and state.link.shape == (2, 11, 11) and state.usage.shape == (2, 11)
    assert state.read_weights.shape == (2, 2, 11) and state.reads.shape == (2, 2, 3)
    assert torch.all(state.link.diagonal(dim1=1, dim2=2) == 0)


def test_a_capped_memory_keeps_at_most_its_cap_and_says_so():
    model = tiny(max_test_rows=8)
    model.set_memory_rows(11)
    assert model.memory_rows == 8
    _, state, _ = model.run(torch.rand(2, 6, 4, dtype=D))
    assert state.link.shape == (2, 8, 8)
    model.set_memory_rows(5)
    assert model.memory_rows == 5


def test_a_dnc_with_a_capped_memory_runs_the_chomsky_protocol_and_records_its_rows(tmp_path):
    out = tmp_path / "out"
    rc = main(["run", "chomsky", "--tasks", "reverse_string", "--models", "dnc", "--seeds", "0", "--workers", "1",
               "--no-report", "--out", str(out), "models.dnc.options={memory_rows: 8, word_size: 4, read_heads: 2, controller_size: 8, max_test_rows: 12}",
               "train.steps=2", "train.batch_size=4", "train.eval_every=1", "train.val_sequences=4",
               "eval.sequences=4", "tasks.reverse_string.test=[3,41]"])
    assert rc == 0
    summary = json.loads((out / "runs" / "reverse_string__dnc__s0" / "summary.json").read_text())
    assert summary["status"] == "ok"
    assert [(r["label"], r["memory_rows"]) for r in summary["eval"]] == [("3", 8), ("41", 12)]


def test_trace_gives_every_read_head_the_write_head_and_the_usage_per_step():
    model = tiny()
    x = torch.rand(2, 6, 4, dtype=D)
    with torch.no_grad():
        logits, weights = model.trace(x)
        torch.testing.assert_close(logits, model(x))
    assert sorted(weights) == ["read0", "read1", "usage", "write0"]
    for name, w in weights.items():
        assert w.shape == (2, 6, 5) and bool((w >= 0).all()), name
    assert bool((weights["write0"].sum(-1) <= 1 + 1e-9).all())
    assert bool((weights["usage"] <= 1 + 1e-9).all())


def test_an_allocating_dnc_writes_row_zero_then_row_one_where_the_unused_rows_tie():
    model = tiny()
    with torch.no_grad():
        xi = model.interface.bias
        xi.zero_()
        model.interface.weight.zero_()
        W, R = 3, 2
        gates = R * W + R + W + 1 + W + W + R  # the allocation and write gates follow
        xi[gates:gates + 2] = 30.0  # g^a = g^w = 1: pure allocation
        _, weights = model.trace(torch.zeros(1, 2, 4, dtype=D))
    # step 2: rows 1-4 have the same (tiny) usage; the lowest index among them is allocated
    assert torch.equal(weights["usage"][0, 1, 1:], weights["usage"][0, 1, 1:].flip(0))
    torch.testing.assert_close(weights["write0"][0, :, :2], torch.eye(2, dtype=D), atol=1e-8, rtol=0)


# ---------------------------------------------------------------------------------------------
# Bad options

@pytest.mark.parametrize("options, fragment", [
    ({"read_heads": 0}, "'read_heads' must be an integer >= 1"),
    ({"memory_rows": -3}, "'memory_rows' must be an integer >= 1"),
    ({"clip": -1.0}, "'clip' must be >= 0"),
    ({"memory_rows": 64, "max_test_rows": 32}, "'max_test_rows' must be null or an integer >= memory_rows"),
])
def test_impossible_dnc_options_are_named(options, fragment):
    with pytest.raises(BenchError, match=fragment):
        DNCConfig(**options)


@pytest.mark.parametrize("override, fragments", [
    ("models.dnc.options.read_heads=0", ["read_heads", ">= 1"]),
    ("models.dnc.options.native=fast", ["native", "auto", "always", "never"]),
    ("models.dnc.options.heads=2", ["'heads'", "read_heads"]),
    ("models.dnc.preset=graves2014", ["no preset 'graves2014'", "graves2016", "tiny"]),
])
def test_bad_dnc_options_on_the_command_line_are_one_line_and_write_nothing(override, fragments, tmp_path, capsys):
    rc = main(["run", "smoke", "--tasks", "copy", "--models", "dnc", "--no-report", "--out", str(tmp_path / "out"),
               override])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in err[0], (fragment, err[0])
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------
# Speed benchmark row (plumbing only: timings are never asserted)

def test_the_speed_benchmark_measures_the_dnc_beside_the_ntm_and_computes_their_ratio(monkeypatch):
    from ntm_bench import speed

    tiny_settings = speed.SpeedSettings(train_sequences=4, repeats=1, eval_length=3, eval_rows=16, eval_batch=2,
                                        scaling_lengths=(2, 3, 4), scaling_rows=(8, 12, 16), scaling_batch=2)
    monkeypatch.setattr(speed, "QUICK", tiny_settings)
    result = speed.measure(quick=True, batch_sizes=(32,), models=("ntm", "dnc"), isolate=False)
    rows = result["models"]
    assert rows["dnc"]["status"] == "ok" and rows["dnc"]["eval"]["memory_rows"] == 16
    up = result["speedups"]["dnc"]  # the DNC's rate over the NTM's (declared baseline "ntm")
    assert up["vs"] == "ntm"
    assert up["train"]["32"] == rows["dnc"]["train"]["32"]["seq_per_s"] / rows["ntm"]["train"]["32"]["seq_per_s"]
    assert "dnc" in speed.format_speed(result)
    preset = speed._build("dnc_graves2016", "cpu")
    assert (preset.cfg.read_heads, preset.memory_rows, preset.cfg.controller_size) == (4, 128, 100)
