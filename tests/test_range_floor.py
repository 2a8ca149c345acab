"""train.range_floor: training draws from the top of the training range; validation keeps all of it."""
import pytest
import torch

from ntm_bench.errors import BenchError
from ntm_bench.config import TrainConfig
from ntm_bench.suite import load_suite
from ntm_bench.data import sample_points, training_points
from suite_hashes import config_hashes


def draws(floor, curriculum="uniform", frac=1.0, n=2000):
    g = torch.Generator().manual_seed(0)
    return sample_points({"items": (2, 6)}, n, g, frac, curriculum, floor)


def test_floor_half_of_two_to_six_draws_four_to_six():
    assert {p[0] for p in draws(0.5)} == {4, 5, 6}
    assert {p[0] for p in draws(0.0)} == {2, 3, 4, 5, 6}


def test_floor_zero_draws_exactly_what_it_drew_before_the_option():
    g = torch.Generator().manual_seed(0)
    assert draws(0.0, n=64) == sample_points({"items": (2, 6)}, 64, g)


def test_floor_applies_to_every_axis_and_under_the_linear_curriculum():
    g = torch.Generator().manual_seed(1)
    pts = sample_points({"length": (1, 5), "repeats": (1, 9)}, 1000, g, 1.0, "uniform", 0.5)
    assert {p[0] for p in pts} == {3, 4, 5} and {p[1] for p in pts} == {5, 6, 7, 8, 9}
    assert {p[0] for p in draws(0.5, "linear", frac=0.0)} == {4}   # the range grows from the floor


@pytest.mark.parametrize("v", [-0.1, 1.0, 2])
def test_bad_floor_is_refused(v):
    with pytest.raises(BenchError, match="range_floor"):
        TrainConfig(range_floor=v)


def test_floor_holds_until_its_fraction_of_the_budget_then_the_whole_range_is_drawn():
    t = TrainConfig(steps=100, batch_size=500, range_floor=0.5, range_floor_until=0.4)
    g = torch.Generator().manual_seed(3)
    lengths = {step: {p[0] for p in training_points({"length": (1, 9)}, t, step, g)} for step in (0, 39, 40, 99)}
    assert lengths[0] == lengths[39] == set(range(5, 10))
    assert lengths[40] == lengths[99] == set(range(1, 10))


def test_floor_until_one_draws_what_the_floor_drew_before_the_option():
    t = TrainConfig(steps=100, batch_size=64, range_floor=0.5)
    assert training_points({"items": (2, 6)}, t, 99, torch.Generator().manual_seed(0)) == draws(0.5, n=64)


@pytest.mark.parametrize("v", [0, -0.5, 1.5])
def test_bad_floor_until_is_refused(v):
    with pytest.raises(BenchError, match="range_floor_until' must be in \\(0, 1\\]"):
        TrainConfig(range_floor_until=v)


def test_the_default_leaves_run_ids_unchanged_and_a_floor_changes_them():
    assert config_hashes() == config_hashes("train.range_floor=0")
    assert config_hashes() != config_hashes("train.range_floor=0.5")


def test_floor_axes_raise_only_the_named_axis():
    g = torch.Generator().manual_seed(2)
    pts = sample_points({"length": (1, 10), "repeats": (1, 10)}, 2000, g, 1.0, "uniform", 0.9, ("length",))
    assert {p[0] for p in pts} == {9, 10} and {p[1] for p in pts} == set(range(1, 11))


def test_floor_axes_default_leaves_run_ids_unchanged_and_an_axis_is_read_from_yaml_or_the_command_line():
    def runs(*ov):
        return load_suite("graves2014-cpu", list(ov), tasks=["repeat_copy"], models=["ntm"], seeds=[0]).runs()
    rc = {"suite": "graves2014-cpu", "task": "repeat_copy"}
    assert config_hashes(**rc) == config_hashes("train.range_floor_axes=null", **rc)
    assert config_hashes(**rc) == config_hashes("train.range_floor_until=1", **rc)
    yaml_form = runs("overrides=[{model: ntm, task: repeat_copy, train: {range_floor: 0.9, range_floor_axes: [length]}}]")
    assert yaml_form[0].train["range_floor_axes"] == ["length"]
    assert yaml_form[0].config_hash() != runs()[0].config_hash()


@pytest.mark.parametrize("value, message", [
    ("[lenght]", "task 'repeat_copy' has no axis 'lenght'; valid: length, repeats"),
    ("[]", "'range_floor_axes' is empty"),
])
def test_bad_floor_axes_name_the_valid_axes(value, message):
    ov = f"overrides=[{{model: ntm, task: repeat_copy, train: {{range_floor: 0.9, range_floor_axes: {value}}}}}]"
    with pytest.raises(BenchError, match=message):
        load_suite("graves2014-cpu", [ov], tasks=["repeat_copy"], models=["ntm"], seeds=[0]).runs()
