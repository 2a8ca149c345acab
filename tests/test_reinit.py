"""train.reinit_after_sequences: a run still on its starting plateau goes on from fresh weights."""
import pytest
import torch

from ntm_bench.checkpoint import TrainState
from ntm_bench.config import TrainConfig
from ntm_bench.errors import BenchError
from ntm_bench.records import read_summary
from ntm_bench.suite import load_suite
from ntm_bench.train import run_one
from ntm_bench.trainer import Trainer, reinit_seed

from suite_hashes import config_hashes
from test_faults import _interrupted_then_resumed, _same_science, _curve


def _spec(*extra, model="lstm"):
    suite = load_suite("smoke", ["train.steps=12", "train.eval_every=2", "train.batch_size=4", *extra],
                       tasks=["copy"], models=[model])
    return suite.runs()[0]


ALWAYS = ("train.reinit_after_sequences=8", "train.reinit_above_bit_errors=0", "train.max_reinits=2")


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_a_plateau_row_gives_the_fresh_weights_of_the_derived_seed(tmp_path):
    spec = _spec(*ALWAYS)
    tr = Trainer(spec, tmp_path / "run")
    before = _weights(tr.model)
    tr.state = TrainState(sequences=8, step=2)
    assert tr.on_plateau({"val_bit_errors": 5.0, "sequences": 8})
    torch.manual_seed(reinit_seed(spec.init_seed, 1))
    fresh = tr.entry.build(tr.task.input_size, tr.task.output_size, spec.model["options"]).state_dict()
    after = _weights(tr.model)
    assert all(torch.equal(after[k], fresh[k]) for k in fresh)
    assert any(not torch.equal(after[k], before[k]) for k in before)
    assert tr.state.reinits == 1 and tr.state.attempt_from == 8


@pytest.mark.parametrize("state, bit_errors", [
    (dict(sequences=4), 5.0),                       # too early in the attempt
    (dict(sequences=20, attempt_from=16), 5.0),     # too early in the second attempt
    (dict(sequences=8), 0.5),                       # off the plateau (threshold 1)
    (dict(sequences=40, reinits=2), 5.0),           # no new initialisations left
])
def test_no_new_initialisation_early_off_the_plateau_or_past_the_limit(tmp_path, state, bit_errors):
    tr = Trainer(_spec("train.reinit_after_sequences=8", "train.max_reinits=2"), tmp_path / "run")
    before = _weights(tr.model)
    tr.state = TrainState(**state)
    assert not tr.on_plateau({"val_bit_errors": bit_errors, "sequences": state["sequences"]})
    assert all(torch.equal(v, before[k]) for k, v in _weights(tr.model).items())


def test_a_run_counts_every_attempts_sequences_and_says_so(tmp_path, capsys):
    spec = _spec(*ALWAYS)
    s = run_one(spec, tmp_path)
    assert s["training"]["reinits"] == 2 and s["training"]["steps"] == 12 and s["training"]["sequences"] == 48
    err = capsys.readouterr().err
    assert "new initialisation 1 of 2 at step 2" in err and "new initialisation 2 of 2 at step 4" in err


def test_the_option_changes_nothing_until_it_fires(tmp_path):
    plain = run_one(_spec(), tmp_path / "a")
    never = run_one(_spec("train.reinit_after_sequences=8", "train.reinit_above_bit_errors=1e9"), tmp_path / "b")
    assert never["training"]["reinits"] == 0
    _same_science(plain, never)
    assert _curve(tmp_path / "a" / "runs" / plain["run_id"]) == _curve(tmp_path / "b" / "runs" / never["run_id"])


def test_a_run_resumed_after_a_new_initialisation_matches_an_uninterrupted_one(tmp_path):
    spec = _spec(*ALWAYS, "train.checkpoint_every=3")
    straight = run_one(spec, tmp_path / "a")
    summary, steps = _interrupted_then_resumed(spec, tmp_path / "b", at_step=8)
    assert summary["training"]["resumed_from"] == 6 and summary["training"]["reinits"] == 2
    _same_science(summary, straight)
    assert read_summary(tmp_path / "b" / "runs" / spec.run_id)["eval"] == straight["eval"]


def test_defaults_leave_run_ids_unchanged():
    assert config_hashes() == config_hashes("train.max_reinits=1", "train.reinit_above_bit_errors=1.0")
    assert config_hashes() != config_hashes("train.reinit_after_sequences=40000")


@pytest.mark.parametrize("field, v", [("reinit_after_sequences", 0), ("max_reinits", -1),
                                      ("reinit_above_bit_errors", -0.5)])
def test_bad_values_are_refused_with_the_field_named(field, v):
    with pytest.raises(BenchError, match=field):
        TrainConfig(**{field: v})
