"""The LSTM and Transformer baselines: the paper's LSTM, positions beyond training, attention masks
(ALiBi and randomised positions in detail: tests/test_positions.py; the Stack-RNN: tests/test_stack_rnn.py)."""
from __future__ import annotations

import pytest
import torch

from baselines.lstm import LSTM, LSTMConfig
from baselines.transformer import Transformer, TransformerConfig, rotate
from ntm_bench.errors import BenchError
from ntm_bench.registry import get_model

torch.set_num_threads(1)

TRAIN_T = 41  # copy trains on L <= 20: at most 2 * 20 + 1 steps (reference §2)
LONG_T = 3 * TRAIN_T


def n_trainable(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def lstm(input_size=3, output_size=2, **options) -> LSTM:
    torch.manual_seed(0)
    return get_model("lstm").build(input_size, output_size, {"layers": 3, "hidden_size": 8, **options}).eval()


def transformer(input_size=3, output_size=2, **options) -> Transformer:
    torch.manual_seed(0)
    small = {"n_layers": 2, "d_model": 16, "n_heads": 2, "d_ff": 32}
    return get_model("transformer").build(input_size, output_size, {**small, **options}).eval()


def inputs(T: int, B: int = 2, size: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 2, (B, T, size), generator=torch.Generator().manual_seed(seed)).float()


# ---------------------------------------------------------------- LSTM

@pytest.mark.parametrize("task,io,size,expected", [
    ("copy", (10, 9), 256, 1_352_969),               # reference §3: exact, with 10 inputs and 9 outputs
    ("associative_recall", (8, 6), 256, 1_344_518),  # 6-bit items + 2 delimiter channels in, 6 bits out
    ("dynamic_ngrams", (1, 1), 128, 331_905),        # one bit in, one bit out
])
def test_graves_lstm_has_exactly_the_papers_parameter_count(task, io, size, expected):
    model = LSTM(*io, LSTMConfig(layers=3, hidden_size=size, layout="graves", learned_init=True))
    assert n_trainable(model) == expected


def test_lstm_defaults_are_the_papers_copy_baseline():
    assert n_trainable(LSTM(10, 9)) == 1_352_969


def test_lstm_graves_presets_carry_the_papers_sizes_and_learning_rates():
    presets = get_model("lstm").presets["graves2014"]
    got = {t: (p["options"]["hidden_size"], p["train"]["lr"]) for t, p in presets.items()}
    assert got == {"copy": (256, 3e-5), "repeat_copy": (512, 3e-5), "associative_recall": (256, 1e-4),
                   "dynamic_ngrams": (128, 1e-4), "priority_sort": (128, 3e-5)}
    assert all(p["options"]["layers"] == 3 and p["options"]["layout"] == "graves" for p in presets.values())


def test_graves_lstm_has_one_trainable_bias_per_gate():
    model = lstm()
    assert not [n for n, _ in model.layers.named_parameters() if "bias" in n]  # no b_ih + b_hh pair
    H = model.cfg.hidden_size
    for k, layer in enumerate(model.layers):  # [x, h^{k-1}, 1]: the last column is the bias
        assert layer.weight_ih_l0.shape == (4 * H, 3 + (H if k else 0) + 1)
        assert torch.all(layer.weight_ih_l0[H:2 * H, -1] == 1.0)  # forget-gate bias starts at 1


def test_graves_lstm_input_reaches_every_layer_directly():
    model = lstm()
    with torch.no_grad():  # cut the input out of the first layer and the first layer out of the output
        model.layers[0].weight_ih_l0[:, :3] = 0.0
        model.readout.weight[:, :8] = 0.0
        y_a, y_b = model(inputs(6, seed=0)), model(inputs(6, seed=1))
    assert not torch.allclose(y_a, y_b)  # deeper layers still see x
    stack = lstm(layout="stack")
    with torch.no_grad():  # the same cut in a plain stack leaves the output blind to x
        stack.layers[0].weight_ih_l0.zero_()
        assert torch.allclose(stack(inputs(6, seed=0)), stack(inputs(6, seed=1)))


@pytest.mark.parametrize("layer", [0, 1, 2])
def test_graves_lstm_every_layer_feeds_the_output(layer):
    model = lstm()
    H = model.cfg.hidden_size
    with torch.no_grad():  # keep only this layer's slice of the read-out
        keep = torch.zeros_like(model.readout.weight)
        keep[:, layer * H:(layer + 1) * H] = 1.0
        model.readout.weight.mul_(keep)
        y_a, y_b = model(inputs(6, seed=0)), model(inputs(6, seed=1))
    assert model.readout.in_features == 3 * H
    assert not torch.allclose(y_a, y_b)


def test_graves_lstm_learns_its_initial_state():
    model = lstm()
    model(inputs(5)).sum().backward()
    assert model.h0.shape == model.c0.shape == (3, 8)
    assert model.h0.grad.abs().sum() > 0 and model.c0.grad.abs().sum() > 0
    assert lstm(learned_init=False).h0 is None


def test_stack_lstm_keeps_torchs_two_biases_and_reads_the_top_layer():
    model = lstm(layout="stack", learned_init=False)
    H, I, O = 8, 3, 2
    per_layer = lambda i: 4 * H * (i + H) + 8 * H  # noqa: E731
    assert n_trainable(model) == per_layer(I) + 2 * per_layer(H) + H * O + O
    assert model(inputs(LONG_T)).shape == (2, LONG_T, 2)


# ---------------------------------------------------------------- Transformer

@pytest.mark.parametrize("position", ["rotary", "sinusoidal", "learned", "alibi", "none"])
def test_every_position_encoding_runs_beyond_the_longest_training_length(position):
    model = transformer(position=position, max_positions=4 * TRAIN_T)
    x = inputs(LONG_T)
    with torch.no_grad():
        y = model(x)
        prefix = model(x[:, :TRAIN_T])
    assert y.shape == (2, LONG_T, 2) and torch.isfinite(y).all()
    torch.testing.assert_close(y[:, :TRAIN_T], prefix, atol=1e-5, rtol=0)  # causal: a longer tail changes nothing before it


@pytest.mark.parametrize("position,sees_order", [("rotary", True), ("sinusoidal", True),
                                                  ("learned", True), ("alibi", True), ("none", False)])
def test_positions_break_the_permutation_symmetry_of_bidirectional_attention(position, sees_order):
    model = transformer(position=position, causal=False)
    x = inputs(10, B=1)
    reverse = torch.arange(9, -1, -1)
    with torch.no_grad():
        y, y_rev = model(x), model(x[:, reverse])
    # Without positions, attention is permutation-equivariant: reversing the input reverses the output.
    equivariant = torch.allclose(y_rev, y[:, reverse], atol=1e-5)
    assert equivariant != sees_order


def test_rotary_attention_scores_depend_only_on_the_distance_between_positions():
    g = torch.Generator().manual_seed(0)
    q = torch.randn(1, 1, 1, 8, generator=g).expand(1, 1, 50, 8)  # the same query at every position
    k = torch.randn(1, 1, 1, 8, generator=g).expand(1, 1, 50, 8)
    s = rotate(q, 10000.0)[0, 0] @ rotate(k, 10000.0)[0, 0].T  # (T, T)
    torch.testing.assert_close(s[3, 1], s[40, 38])
    torch.testing.assert_close(s[10, 10], s[49, 49])
    assert not torch.allclose(s[3, 1], s[3, 2])


def test_learned_positions_work_up_to_max_positions_and_raise_beyond():
    model = transformer(position="learned", max_positions=64)
    assert model(inputs(64)).shape == (2, 64, 2)
    with pytest.raises(BenchError, match="max_positions=64"):
        model(inputs(65))


@pytest.mark.parametrize("position", ["rotary", "sinusoidal", "learned", "alibi", "none"])
def test_causal_attention_leaves_earlier_steps_unchanged_when_a_later_step_changes(position):
    model = transformer(position=position)
    x = inputs(20)
    x2 = x.clone()
    x2[:, 11] = 1.0 - x2[:, 11]
    with torch.no_grad():
        y, y2 = model(x), model(x2)
    torch.testing.assert_close(y2[:, :11], y[:, :11], atol=1e-6, rtol=0)
    assert not torch.allclose(y2[:, 11:], y[:, 11:])


def test_bidirectional_attention_lets_a_later_step_change_earlier_ones():
    model = transformer(causal=False)
    x = inputs(20)
    x2 = x.clone()
    x2[:, 11] = 1.0 - x2[:, 11]
    with torch.no_grad():
        y, y2 = model(x), model(x2)
    assert not torch.allclose(y2[:, :11], y[:, :11])


def test_bidirectional_attention_ignores_padding_given_valid():
    model = transformer(causal=False)
    x = inputs(12)
    valid = torch.ones(2, 12, dtype=torch.bool)
    valid[1, 7:] = False
    x2 = x.clone()
    x2[1, 7:] = torch.rand(5, 3)  # different padding content
    with torch.no_grad():
        y, y2 = model(x, valid=valid), model(x2, valid=valid)
        y_blind = model(x2)  # without valid the padding is attended to
    torch.testing.assert_close(y2[1, :7], y[1, :7], atol=1e-6, rtol=0)
    assert not torch.allclose(y_blind[1, :7], y[1, :7])


def test_post_norm_transformer_runs_and_differs_from_pre_norm():
    x = inputs(15)
    with torch.no_grad():
        pre, post = transformer(norm="pre")(x), transformer(norm="post")(x)
    assert post.shape == pre.shape and torch.isfinite(post).all()
    assert not torch.allclose(pre, post)


@pytest.mark.parametrize("options,needle", [
    ({"d_model": 16, "n_heads": 3}, "divisible"),
    ({"d_model": 12, "n_heads": 4, "position": "rotary"}, "even head size"),
    ({"position": "xpos"}, "'rotary'"),
    ({"dropout": 1.5}, "dropout"),
])
def test_bad_transformer_options_raise_a_bench_error_naming_the_problem(options, needle):
    with pytest.raises(BenchError, match=needle):
        get_model("transformer").build(3, 2, options)


def test_transformer_presets_match_the_papers_lstm_sizes_within_fifteen_percent():
    t_presets = get_model("transformer").presets["graves2014"]
    for task, io, paper in [("copy", (10, 9), 1_352_969), ("associative_recall", (8, 6), 1_344_518),
                            ("dynamic_ngrams", (1, 1), 331_905)]:
        n = n_trainable(Transformer(*io, TransformerConfig(**t_presets[task]["options"])))
        assert 0.85 < n / paper < 1.15, (task, n)
