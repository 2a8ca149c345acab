"""Hand-computed cases for the NTM's memory and addressing on a 4 x 4 memory (Graves 2014 §3).

Every expected value is worked out by hand in the comments, not by calling the code.
"""
import math

import pytest
import torch

from ntm_bench.ntm.addressing import circular_shift, content_weighting, interpolate, read, sharpen, shift_index, write
from ntm_bench.ntm.ops.step import Shifter


def t(rows):
    return torch.tensor(rows, dtype=torch.float64)


def test_read_is_the_weighted_sum_of_memory_rows():
    memory = t([[1, 2, 3, 4], [0, 1, 0, 1], [2, 0, 2, 0], [9, 9, 9, 9]])[None]
    w = t([[0.5, 0.25, 0.25, 0]])[None]
    # 0.5 [1,2,3,4] + 0.25 [0,1,0,1] + 0.25 [2,0,2,0] = [1, 1.25, 2, 2.25]; row 3 has weight 0
    assert torch.allclose(read(memory, w), t([[[1.0, 1.25, 2.0, 2.25]]]))


def test_one_write_head_erases_then_adds_in_proportion_to_its_weight():
    memory = torch.ones(1, 4, 4, dtype=torch.float64)
    w = t([[1, 0, 0.5, 0]])[None]
    erase = t([[1, 0.5, 0, 0]])[None]
    add = t([[1, 2, 3, 4]])[None]
    expected = t([
        [0 + 1, 0.5 + 2, 1 + 3, 1 + 4],  # row 0, w = 1: 1 - e = [0, .5, 1, 1], then + a
        [1, 1, 1, 1],  # w = 0: untouched
        [0.5 + 0.5, 0.75 + 1, 1 + 1.5, 1 + 2],  # w = .5: 1 - .5 e = [.5, .75, 1, 1], then + .5 a
        [1, 1, 1, 1],
    ])[None]
    assert torch.allclose(write(memory, w, erase, add), expected)


def test_two_write_heads_erase_everything_before_adding_anything():
    memory = torch.ones(1, 4, 4, dtype=torch.float64)
    w = t([[1, 0, 0, 0], [1, 0, 0, 0]])[None]  # both heads on row 0
    erase = t([[0.5, 0.5, 0, 0], [0.5, 0.5, 0, 0]])[None]
    add = t([[1, 0, 0, 0], [0, 0, 0, 2]])[None]
    # row 0: erases (1 - .5)(1 - .5) = .25 in columns 0 and 1, then adds [1, 0, 0, 2] -> [1.25, .25, 1, 3].
    # Erase-add per head in turn would give column 0 = (.5 + 1) * .5 = .75 instead.
    expected = torch.ones(1, 4, 4, dtype=torch.float64)
    expected[0, 0] = t([1.25, 0.25, 1, 3])
    assert torch.allclose(write(memory, w, erase, add), expected)
    swapped = write(memory, w.flip(1), erase.flip(1), add.flip(1))
    assert torch.allclose(swapped, expected)  # head order does not matter


def test_content_weighting_is_a_softmax_of_strength_times_cosine_similarity():
    memory = t([[3, 0, 0, 0],  # cos = 1 (scale does not matter)
                [0, 1, 0, 0],  # cos = 0
                [1, math.sqrt(3), 0, 0],  # |row| = 2, dot = 2 * 1 -> cos = 2 / (2 * 2) = 0.5
                [0, 0, 0, 0]])[None]  # all-zero row: cos = 0 (eps in the denominator)
    key = t([[2, 0, 0, 0]])[None]
    beta = t([[math.log(4)]])[None]
    # exp(beta * cos) = 4, 1, 2, 1 -> / 8
    assert torch.allclose(content_weighting(memory, key, beta), t([[[0.5, 0.125, 0.25, 0.125]]]), atol=1e-7)


def test_a_stronger_key_focuses_the_content_weighting():
    memory = t([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])[None]
    key = t([[1, 0, 0, 0]])[None]
    # beta = 0: uniform; beta = log(1000): e^(beta) = 1000 against 1, 1, 1 -> 1000 / 1003
    assert torch.allclose(content_weighting(memory, key, t([[[0.0]]])), torch.full((1, 1, 4), 0.25, dtype=torch.float64))
    focused = content_weighting(memory, key, t([[[math.log(1000)]]]))
    assert torch.allclose(focused, t([[[1000 / 1003, 1 / 1003, 1 / 1003, 1 / 1003]]]), atol=1e-7)


def test_interpolation_mixes_content_and_previous_weighting_by_the_gate():
    w_content = t([[1, 0, 0, 0]])[None]
    w_prev = t([[0, 0, 0, 1]])[None]
    # .25 [1,0,0,0] + .75 [0,0,0,1]
    assert torch.allclose(interpolate(w_content, w_prev, t([[[0.25]]])), t([[[0.25, 0, 0, 0.75]]]))
    assert torch.allclose(interpolate(w_content, w_prev, t([[[1.0]]])), w_content)


def _shift_gather(w, s, shifts):
    return circular_shift(w, s, shift_index(shifts, w.shape[-1], w.device)[0])


def _shift_fused(w, s, shifts):
    return Shifter(shifts, w.shape[-1], w.device).forward(w, s)[0]


@pytest.mark.parametrize("shift", [_shift_gather, _shift_fused], ids=["gather", "fused_windows"])
def test_circular_shift_moves_weight_and_wraps_around(shift):
    w = t([[0.1, 0.2, 0.3, 0.4]])[None]
    shifts = (-1, 0, 1)
    # s on +1: w~(i) = w(i - 1); row 0 receives row 3's weight (wrap-around)
    assert torch.allclose(shift(w, t([[[0, 0, 1]]]), shifts), t([[[0.4, 0.1, 0.2, 0.3]]]))
    # s on -1: w~(i) = w(i + 1); row 3 receives row 0's weight
    assert torch.allclose(shift(w, t([[[1, 0, 0]]]), shifts), t([[[0.2, 0.3, 0.4, 0.1]]]))
    # half -1, half 0: w~(i) = .5 w(i + 1) + .5 w(i)
    assert torch.allclose(shift(w, t([[[0.5, 0.5, 0]]]), shifts), t([[[0.15, 0.25, 0.35, 0.25]]]))


@pytest.mark.parametrize("shift", [_shift_gather, _shift_fused], ids=["gather", "fused_windows"])
def test_circular_shift_by_two_rows_with_a_wider_shift_set(shift):
    w = t([[0.1, 0.2, 0.3, 0.4]])[None]
    # shifts (-2, -1, 0, 1, 2) with all mass on +2: w~(i) = w(i - 2) -> [.3, .4, .1, .2]
    assert torch.allclose(shift(w, t([[[0, 0, 0, 0, 1]]]), (-2, -1, 0, 1, 2)), t([[[0.3, 0.4, 0.1, 0.2]]]))
    # a non-contiguous set (0, 3): all mass on +3 = -1 mod 4 -> [.2, .3, .4, .1]
    assert torch.allclose(shift(w, t([[[0, 1]]]), (0, 3)), t([[[0.2, 0.3, 0.4, 0.1]]]))


def test_sharpening_raises_to_gamma_and_renormalises():
    w = t([[0.5, 0.25, 0.25, 0]])[None]
    # gamma = 2: [.25, .0625, .0625, 0] / .375 = [2/3, 1/6, 1/6, 0]
    assert torch.allclose(sharpen(w, t([[[2.0]]])), t([[[2 / 3, 1 / 6, 1 / 6, 0]]]), atol=1e-9)
    # gamma = 1 leaves a normalised weighting as it is
    assert torch.allclose(sharpen(w, t([[[1.0]]])), w, atol=1e-9)


def test_sharpening_with_a_large_gamma_stays_finite_in_float32():
    # 128 rows, row 0 at 1.5 / 128.5 and the rest at 1 / 128.5: w^21 is ~1e-41 to 1e-45 in every
    # row, below float32's normal range, so a plain power would give 0 / 0.
    w = torch.full((1, 1, 128), 1 / 128.5)
    w[0, 0, 0] = 1.5 / 128.5
    out = sharpen(w, torch.tensor([[[21.0]]]))  # gamma = 1 + softplus(20), the clip's maximum
    # row 0: 1.5^21 / (1.5^21 + 127) = 4987.8 / 5114.8
    assert torch.isfinite(out).all()
    assert out[0, 0, 0].item() == pytest.approx(4987.8 / 5114.8, rel=1e-3)
