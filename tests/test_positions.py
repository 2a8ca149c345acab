"""The Transformer's positional encodings: ALiBi (Press et al. 2022) and randomised positions (Ruoss
et al. 2023), each generalising its positions beyond the training length as designed; and the
encodings that existed before them, pinned to the numbers and run ids they had."""
from __future__ import annotations

import math

import pytest
import torch

from baselines.positions import alibi_bias, alibi_slopes, random_positions, rotate, sinusoids
from ntm_bench.errors import BenchError
from ntm_bench.registry import get_model

torch.set_num_threads(1)

SMALL = {"n_layers": 2, "d_model": 16, "n_heads": 2, "d_ff": 32}


def transformer(**options):
    torch.manual_seed(0)
    return get_model("transformer").build(3, 2, {**SMALL, **options}).eval()


def inputs(T: int, B: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 2, (B, T, 3), generator=torch.Generator().manual_seed(seed)).float()


# ---------------------------------------------------------------- the encodings that were there before

# Computed on main (467b609) before ALiBi and randomised positions existed: (sum, sum of |y|, y[0, -1])
# of a seed-0 model's logits on a fixed batch with padding.
BEFORE = {
    ("rotary", True): (37.569546, 38.643024, [0.377419, 0.314178]),
    ("rotary", False): (39.782959, 40.072403, [0.379506, 0.326676]),
    ("sinusoidal", True): (29.167772, 41.679234, [0.380873, 0.06831]),
    ("sinusoidal", False): (24.857233, 41.584106, [0.375132, 0.051672]),
    ("learned", True): (23.817518, 58.708897, [-0.41718, 0.639552]),
    ("learned", False): (23.165043, 61.369335, [-0.417818, 0.643625]),
    ("none", True): (37.337017, 38.2784, [0.390964, 0.309629]),
    ("none", False): (39.583298, 39.901005, [0.392859, 0.321737]),
}


@pytest.mark.parametrize("position,causal", sorted(BEFORE))
def test_the_earlier_encodings_give_the_numbers_they_gave_before(position, causal):
    model = transformer(position=position, causal=causal, max_positions=64)
    valid = torch.ones(2, 30, dtype=torch.bool)
    valid[1, 20:] = False
    with torch.no_grad():
        y = model(inputs(30), valid=valid)
    total, size, last = BEFORE[(position, causal)]
    assert y.sum().item() == pytest.approx(total, abs=1e-4)
    assert y.abs().sum().item() == pytest.approx(size, abs=1e-4)
    assert y[0, -1].tolist() == pytest.approx(last, abs=1e-5)


def test_quick_transformer_run_keeps_its_config_hash_and_its_shipped_record():
    import json
    from pathlib import Path

    from ntm_bench.suite import load_suite

    spec = next(r for r in load_suite("quick").runs() if r.run_id == "copy__transformer__s0")
    assert spec.config_hash() == "b855d08949e4e534"  # computed on main (467b609)
    record = Path(__file__).resolve().parent.parent / "results/quick-reference/runs/copy__transformer__s0/summary.json"
    assert json.loads(record.read_text())["config_hash"] == spec.config_hash()


def test_positions_given_as_zero_to_t_minus_one_change_no_encoding():
    x = torch.randn(2, 2, 9, 8, generator=torch.Generator().manual_seed(0))
    arange = torch.arange(9)[None]
    torch.testing.assert_close(rotate(x, 10000.0, arange), rotate(x, 10000.0), atol=1e-6, rtol=0)
    torch.testing.assert_close(sinusoids(9, 8, x, arange)[0], sinusoids(9, 8, x), atol=1e-6, rtol=0)


# ---------------------------------------------------------------- ALiBi

@pytest.mark.parametrize("heads,expected", [
    (1, [2 ** -8]),
    (2, [2 ** -4, 2 ** -8]),
    (4, [2 ** -2, 2 ** -4, 2 ** -6, 2 ** -8]),
    (8, [2 ** -k for k in range(1, 9)]),  # Press et al. 2022, §3: 1/2, 1/4, ..., 1/256
    (6, [2 ** -2, 2 ** -4, 2 ** -6, 2 ** -8, 2 ** -1, 2 ** -3]),  # 4 heads' slopes + the odd ones of 8
    (3, [2 ** -4, 2 ** -8, 2 ** -2]),
])
def test_alibi_slopes_are_the_papers_geometric_sequence(heads, expected):
    assert alibi_slopes(heads) == pytest.approx(expected, rel=1e-12)


def test_causal_alibi_bias_is_minus_slope_times_distance_and_masks_the_future():
    slopes = torch.tensor([0.5, 0.25])
    b = alibi_bias(slopes, 4, causal=True, asymmetry=0.5)[0]  # (H, T, T)
    assert b.shape == (2, 4, 4)
    assert b[0, 3].tolist() == [-1.5, -1.0, -0.5, 0.0]  # query 3 sees keys 0..3 at distance 3..0
    assert b[1, 2, :3].tolist() == [-0.5, -0.25, 0.0]
    assert torch.isneginf(b[:, 1, 2:]).all() and torch.isneginf(b[:, 0, 1:]).all()


def test_bidirectional_alibi_penalises_distance_both_ways_and_tells_left_from_right():
    slopes = torch.tensor([0.5])
    b = alibi_bias(slopes, 3, causal=False, asymmetry=0.5)[0, 0]  # (T, T)
    # key before the query: -m * d + 0.5 m; key after: -m * d; m = 0.5
    assert b.tolist() == [[0.0, -0.5, -1.0], [-0.25, 0.0, -0.5], [-0.75, -0.25, 0.0]]
    symmetric = alibi_bias(slopes, 3, causal=False, asymmetry=0.0)[0, 0]
    torch.testing.assert_close(symmetric, symmetric.T)


def test_alibi_bias_depends_only_on_distance_and_stays_finite_far_beyond_training():
    slopes = torch.tensor(alibi_slopes(4))
    T = 2000  # ~50x the Chomsky protocol's training length (40)
    b = alibi_bias(slopes, T, causal=True, asymmetry=0.5)[0]  # (H, T, T)
    lower = torch.ones(T, T, dtype=torch.bool).tril()
    assert torch.isfinite(b[:, lower]).all() and torch.isneginf(b[:, ~lower]).all()
    torch.testing.assert_close(b[:, 1500, 1200], b[:, 310, 10])  # the same distance, 300 steps
    torch.testing.assert_close(b[:, 1999, 0], -slopes * 1999)
    assert (b[:, lower] <= 0).all()


def test_alibi_transformer_runs_far_beyond_training_and_attends_within_each_sequence_only():
    model = transformer(position="alibi")
    x = inputs(600)
    with torch.no_grad():
        y = model(x)
        prefix = model(x[:, :41])
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y[:, :41], prefix, atol=1e-5, rtol=0)  # a later tail changes nothing before it


def test_bidirectional_alibi_transformer_ignores_padding():
    model = transformer(position="alibi", causal=False)
    x = inputs(12, B=2)
    valid = torch.ones(2, 12, dtype=torch.bool)
    valid[1, 7:] = False
    x2 = x.clone()
    x2[1, 7:] = 1.0 - x2[1, 7:]
    with torch.no_grad():
        y, y2 = model(x, valid=valid), model(x2, valid=valid)
    torch.testing.assert_close(y2[1, :7], y[1, :7], atol=1e-6, rtol=0)
    assert not torch.allclose(y2[1, 7:], y[1, 7:])


@pytest.mark.parametrize("asymmetry,sees_order", [(0.5, True), (0.0, False)])
def test_bidirectional_alibi_tells_left_from_right_only_through_its_asymmetry(asymmetry, sees_order):
    model = transformer(position="alibi", causal=False, alibi_asymmetry=asymmetry)
    x, rev = inputs(12, B=1), torch.arange(11, -1, -1)
    with torch.no_grad():
        equivariant = torch.allclose(model(x[:, rev]), model(x)[:, rev], atol=1e-5)
    assert equivariant != sees_order  # a mirror-symmetric bias cannot see which way the sequence runs


# ---------------------------------------------------------------- randomised positions

def draws(model, n: int, B: int, T: int, lengths=None) -> torch.Tensor:
    """n training draws of the positions of B sequences of T steps -> (n * B, T)."""
    valid = None if lengths is None else torch.arange(T)[None] < torch.tensor(lengths)[:, None]
    model.train()
    return torch.cat([model.position_indices(B, T, valid) for _ in range(n)])


def test_random_positions_are_sorted_distinct_and_from_the_whole_range():
    p = random_positions(torch.tensor([5, 8, 3]), 8, 100, torch.Generator().manual_seed(0))  # (3, 8)
    assert p.shape == (3, 8) and p.dtype == torch.long
    for row, n in zip(p, (5, 8, 3)):
        real = row[:n]
        assert (real[1:] > real[:-1]).all()  # sorted and distinct
        assert (real >= 0).all() and (real < 100).all()
        assert (row[n:] == 99).all()  # padding: the last position, so a row stays non-decreasing


def test_training_draws_positions_from_the_larger_range_sorted_distinct_and_seeded():
    model = transformer(position="sinusoidal", randomised=True, random_max_length=64)
    torch.manual_seed(3)
    a = draws(model, 50, 4, 8)
    torch.manual_seed(3)
    b = draws(model, 50, 4, 8)
    torch.manual_seed(4)
    c = draws(model, 50, 4, 8)
    assert torch.equal(a, b) and not torch.equal(a, c)  # deterministic given the seed
    assert (a[:, 1:] > a[:, :-1]).all()  # every draw sorted and distinct
    assert a.min() >= 0 and a.max() <= 63
    assert a.max() >= 8 * 4  # far beyond the 8 steps of the training sequences
    assert len(a.unique()) == 64  # every position of the range is trained on


def test_each_training_sequence_draws_positions_for_its_own_length():
    model = transformer(position="rotary", randomised=True, random_max_length=64)
    torch.manual_seed(0)
    p = draws(model, 200, 2, 8, lengths=[8, 3])  # row 1 of each draw: 3 real steps, then padding
    short = p[1::2]
    assert (short[:, 1:3] > short[:, :2]).all() and (short[:, 3:] == 63).all()
    # 3 of 64 drawn uniformly: the first is spread over the range, not held to the low end
    assert short[:, 0].float().mean() > 8


def test_evaluation_uses_positions_that_training_has_seen_up_to_the_range():
    L, train_T = 64, 8
    model = transformer(position="learned", randomised=True, random_max_length=L)
    torch.manual_seed(0)
    seen = set(draws(model, 100, 4, train_T).flatten().tolist())
    model.eval()
    for T in (train_T, 30, L):  # evaluation up to random_max_length, far beyond the training length
        p = model.position_indices(1, T)
        assert p.shape == (1, T) and (p[0, 1:] > p[0, :-1]).all()
        assert set(p.flatten().tolist()) <= seen


def test_evaluation_positions_are_reproducible_and_independent_of_the_batch():
    model = transformer(position="alibi", randomised=True, random_max_length=128)
    valid = torch.ones(3, 20, dtype=torch.bool)
    valid[1, 9:] = False
    alone = model.position_indices(1, 9)  # the 9-step sequence on its own
    mixed = model.position_indices(3, 20, valid)  # the same length inside a batch of 20-step ones
    assert torch.equal(mixed[1, :9], alone[0])
    assert torch.equal(mixed[0], mixed[2]) and torch.equal(model.position_indices(3, 20, valid), mixed)
    other = transformer(position="alibi", randomised=True, random_max_length=128, random_eval_seed=1)
    assert not torch.equal(other.position_indices(1, 9), alone)


def test_learned_table_rows_beyond_the_training_length_are_trained_when_randomised():
    model = transformer(position="learned", randomised=True, random_max_length=64).train()
    torch.manual_seed(0)
    for _ in range(10):
        model(inputs(8)).sum().backward()
    trained = (model.positions.grad.abs().sum(dim=1) > 0).nonzero().flatten()
    assert model.positions.shape == (64, 16)
    assert trained.max() >= 32  # rows far past the 8 training steps get gradient
    plain = transformer(position="learned", max_positions=64).train()
    plain(inputs(8)).sum().backward()
    assert (plain.positions.grad[8:] == 0).all()  # without randomising they never would


@pytest.mark.parametrize("position", ["rotary", "sinusoidal", "learned", "alibi"])
@pytest.mark.parametrize("causal", [True, False])
def test_randomised_encodings_run_beyond_training_and_keep_the_contract(position, causal):
    model = transformer(position=position, causal=causal, randomised=True, random_max_length=256)
    T = 200
    x = inputs(T, B=3)
    valid = torch.ones(3, T, dtype=torch.bool)
    valid[1, 50:] = False
    with torch.no_grad():
        y = model(x, valid=valid)
        again = model(x, valid=valid)
        alone = model(x[1:2, :50])
        y64 = model.double()(x.double(), valid=valid)
    assert y.shape == (3, T, 2) and torch.isfinite(y).all()
    assert torch.equal(y, again)  # evaluation is deterministic
    torch.testing.assert_close(y[1, :50], alone[0], atol=1e-5, rtol=0)  # nothing from the batch or the padding
    torch.testing.assert_close(y64.float(), y, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("position", ["sinusoidal", "rotary"])
def test_randomised_encoding_uses_the_drawn_positions(position):
    # With the positions 0..T-1 drawn, a randomised model computes exactly what the plain one does.
    T = 12
    model = transformer(position=position, randomised=True, random_max_length=T)  # T of T: all of them
    plain = transformer(position=position)
    assert torch.equal(model.position_indices(1, T), torch.arange(T)[None])
    with torch.no_grad():
        torch.testing.assert_close(model(inputs(T)), plain(inputs(T)), atol=1e-6, rtol=0)


def test_randomised_positions_refuse_a_sequence_longer_than_their_range():
    model = transformer(position="rotary", randomised=True, random_max_length=32)
    assert model.max_steps == 32
    with pytest.raises(BenchError, match="random_max_length"):
        model(inputs(33))


def test_max_steps_is_the_learned_table_or_the_random_range_and_none_otherwise():
    assert transformer(position="learned", max_positions=50).max_steps == 50
    assert transformer(position="learned", randomised=True, random_max_length=70).max_steps == 70
    assert transformer(position="rotary").max_steps is None
    assert transformer(position="alibi").max_steps is None


@pytest.mark.parametrize("options,needle", [
    ({"position": "xpos"}, "'xpos' is not one of 'rotary', 'sinusoidal', 'learned', 'alibi', 'none'"),
    ({"position": "none", "randomised": True}, "use position alibi, learned, rotary or sinusoidal"),
    ({"random_max_length": 0}, "random_max_length"),
])
def test_bad_position_options_are_one_clear_error(options, needle):
    with pytest.raises(BenchError, match=needle):
        get_model("transformer").build(3, 2, options)


def test_alibi_slopes_for_any_head_count_are_distinct_and_in_zero_one():
    for heads in range(1, 33):
        s = alibi_slopes(heads)
        assert len(s) == heads == len(set(s)) and all(0 < v < 1 for v in s)
        assert math.isclose(s[0], 2 ** (-8 / 2 ** math.floor(math.log2(heads))))
