"""Bad input, table-driven: every case ends with a non-zero exit code, exactly one line on stderr that
names the problem (and the valid choices where there is a list), no traceback, and nothing written or
overwritten (the case's folder is snapshotted, names and mtimes, before and after).

Each case is (id, argv, setup, expected fragments of the error line). In argv, `{tmp}` is the case's
own folder; `setup(tmp)` creates whatever files the case needs there (a suite file, a plugin, a
results folder) before the snapshot is taken.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ntm_bench import registry
from ntm_bench.cli import main

ROOT = Path(__file__).resolve().parent.parent
RUN = ["run", "smoke", "--workers", "1", "--no-report", "--out", "{tmp}/out"]
COPY_NTM = [*RUN, "--tasks", "copy", "--models", "ntm"]


def suite_file(text, name="suite.yaml"):
    def setup(tmp):
        (tmp / name).write_text(text)
    return setup


def plugin_file(text, name="plugin.py"):
    def setup(tmp):
        (tmp / name).write_text(text)
    return setup


def folder(*parts):
    def setup(tmp):
        tmp.joinpath(*parts).mkdir(parents=True)
    return setup


def file_at(name, text="x"):
    def setup(tmp):
        (tmp / name).write_text(text)
    return setup


def results_with_broken_summary(tmp):
    run = tmp / "res" / "runs" / "copy__lstm__s0"
    run.mkdir(parents=True)
    (run / "summary.json").write_text('{"schema": 1, "task": ')


def nothing(tmp):
    pass


def reference_folder(eval_seed=None, runs=True):
    """A suite output folder `ref` like smoke's (suite.json and one run record), optionally with
    another evaluation seed or without runs."""
    def setup(tmp):
        from ntm_bench.runner import suite_record
        from ntm_bench.suite import load_suite

        record = suite_record(load_suite("smoke"), tmp / "ref")
        if eval_seed is not None:
            record["eval"]["seed"] = eval_seed
        (tmp / "ref").mkdir()
        (tmp / "ref" / "suite.json").write_text(json.dumps(record))
        if runs:
            (tmp / "ref" / "runs" / "copy__lstm__s0").mkdir(parents=True)
            (tmp / "ref" / "runs" / "copy__lstm__s0" / "summary.json").write_text(json.dumps(
                {"schema": 1, "run_id": "copy__lstm__s0", "status": "ok",
                 "task": {"name": "copy", "label": "copy", "version": 1}, "model": {"label": "lstm", "name": "lstm"}}))
    return setup


def fixture_copies(tmp):
    """Two copies of the fixture records, the second without its suite.json."""
    for name in ("a", "b"):
        shutil.copytree(ROOT / "tests" / "fixtures" / "records" / "basic", tmp / name)
    (tmp / "b" / "suite.json").unlink()


MODEL = "import torch\nfrom torch import nn\nfrom ntm_bench import register_model\n"
LINEAR = ("    def __init__(self, i, o):\n        super().__init__(); self.w = nn.Linear(i, o)\n"
          "    def forward(self, x, valid=None):\n        return self.w(x)\n")
TASK = ("from dataclasses import dataclass\nfrom typing import ClassVar\n"
        "from ntm_bench import Task, register_task\n")


def model_plugin(decorator="@register_model('mine')", body=LINEAR, base="nn.Module", head=""):
    return plugin_file(f"{MODEL}{head}{decorator}\nclass Mine({base}):\n{body}")


def task_plugin(body, decorators="@register_task('mine')\n@dataclass(frozen=True)"):
    return plugin_file(f"{TASK}{decorators}\nclass Mine(Task):\n{body}")


SIZES = ("    axes: ClassVar[tuple] = ('length',)\n    default_train: ClassVar[dict] = {'length': (1, 5)}\n"
         "    input_size = 2\n    output_size = 1\n    def sequence_length(self, point):\n        return point\n")
PLUGIN_RUN = [*RUN, "--plugin", "{tmp}/plugin.py"]


MINIMAL = "tasks: {copy: {}}\nmodels: {lstm: {}}\n"

CASES = [
    # suite files
    ("malformed_yaml", ["run", "{tmp}/suite.yaml", "--out", "{tmp}/out"], suite_file("tasks: [copy\nmodels: {"),
     ["malformed YAML", "suite.yaml", "line"]),
    ("yaml_not_a_mapping", ["run", "{tmp}/suite.yaml", "--out", "{tmp}/out"], suite_file("- copy\n- lstm\n"),
     ["must hold a mapping"]),
    ("suite_file_is_a_folder", ["run", "{tmp}/suite.yaml", "--out", "{tmp}/out"], folder("suite.yaml"),
     ["is a folder"]),
    ("suite_file_missing", ["run", "{tmp}/nope.yaml", "--out", "{tmp}/out"], nothing, ["does not exist"]),
    ("unknown_builtin_suite", ["run", "smokey", "--out", "{tmp}/out"], nothing,
     ["unknown suite 'smokey'", "graves2014, graves2014-cpu, meminit, quick, smoke"]),
    ("suite_is_not_text", ["run", "{tmp}/suite.yaml", "--out", "{tmp}/out"],
     lambda tmp: (tmp / "suite.yaml").write_bytes(b"\xff\xfe\x00bad"), ["suite.yaml"]),
    ("unknown_suite_key", ["run", "{tmp}/suite.yaml", "--out", "{tmp}/out"], suite_file(MINIMAL + "epochs: 3\n"),
     ["unknown suite key 'epochs'", "valid:", "seeds"]),
    ("unknown_task_in_yaml", ["run", "{tmp}/suite.yaml", "--out", "{tmp}/out"],
     suite_file("tasks: {kopy: {}}\nmodels: {lstm: {}}\n"), ["unknown task 'kopy'", "known tasks: ", " copy,",
                                                                "dynamic_ngrams"]),
    ("unknown_model_in_yaml", ["run", "{tmp}/suite.yaml", "--out", "{tmp}/out"],
     suite_file("tasks: {copy: {}}\nmodels: {gpt5: {}}\n"), ["unknown model 'gpt5'", "lstm", "ntm"]),
    ("no_tasks", ["run", "{tmp}/suite.yaml", "--out", "{tmp}/out"], suite_file("models: {lstm: {}}\n"),
     ["no tasks", "known tasks", "copy"]),
    ("empty_model_list", ["run", "{tmp}/suite.yaml", "--out", "{tmp}/out"],
     suite_file("tasks: {copy: {}}\nmodels: {}\n"), ["no models", "known models", "lstm"]),
    ("task_spec_not_a_mapping", ["run", "{tmp}/suite.yaml", "--out", "{tmp}/out"],
     suite_file("tasks: {copy: 5}\nmodels: {lstm: {}}\n"), ["tasks.copy must be a mapping"]),
    ("unknown_task_key", ["run", "{tmp}/suite.yaml", "--out", "{tmp}/out"],
     suite_file("tasks: {copy: {lenght: 3}}\nmodels: {lstm: {}}\n"), ["unknown key 'lenght'", "train_range"]),
    ("overrides_not_a_list", ["run", "{tmp}/suite.yaml", "--out", "{tmp}/out"], suite_file(MINIMAL + "overrides: 5\n"),
     ["overrides must be a list"]),
    ("empty_seed_list", ["run", "{tmp}/suite.yaml", "--out", "{tmp}/out"], suite_file(MINIMAL + "seeds: []\n"),
     ["seeds", "empty"]),
    # overrides on the command line: unknown keys, wrong types, impossible values
    ("unknown_optimiser", [*RUN, "train.optimizer=sgd"], nothing, ["'sgd' is not one of", "'adam'", "'rmsprop'"]),
    ("unknown_train_key", [*RUN, "train.lrr=1e-3"], nothing, ["unknown train 'lrr'", "valid:", "lr"]),
    ("unknown_top_level_key", [*RUN, "training.lr=1e-3"], nothing, ["unknown key 'training'", "valid:", "train"]),
    ("override_without_value", [*RUN, "train.lr"], nothing, ["unrecognized arguments: train.lr", "key.sub=value"]),
    ("steps_not_an_int", [*RUN, "train.steps=many"], nothing, ["'many' is not an int", "steps"]),
    ("optional_int_not_an_int", [*RUN, "train.lr_decay_steps=many"], nothing,
     ["train 'lr_decay_steps': 'many' is not an int (nor null)"]),
    ("lr_not_a_number", [*RUN, "train.lr=[1,2]"], nothing, ["is not a number", "lr"]),
    ("bool_not_a_bool", [*RUN, "eval.enlarge_memory=maybe"], nothing, ["'maybe' is not a bool"]),
    ("zero_steps", [*RUN, "train.steps=0"], nothing, ["'steps' must be positive, got 0"]),
    ("negative_lr", [*RUN, "train.lr=-1e-3"], nothing, ["'lr' must be positive"]),
    ("negative_batch_size", [*RUN, "train.batch_size=-4"], nothing, ["'batch_size' must be positive"]),
    ("zero_sequence_budget", [*RUN, "train.max_sequences=0"], nothing, ["'max_sequences' must be positive"]),
    ("negative_time_budget", [*RUN, "train.max_seconds=-5"], nothing, ["'max_seconds' must be positive"]),
    ("zero_checkpoint_seconds", [*RUN, "train.checkpoint_seconds=0"], nothing, ["'checkpoint_seconds' must be positive"]),
    ("zero_eval_sequences", [*RUN, "eval.sequences=0"], nothing, ["'sequences' must be positive"]),
    ("unknown_divergence_policy", [*RUN, "train.on_divergence=retry"], nothing, ["'retry' is not one of", "'restart'"]),
    ("restart_factor_above_one", [*RUN, "train.restart_lr_factor=2"], nothing, ["restart_lr_factor", "(0, 1]"]),
    ("solved_threshold_above_one", [*RUN, "eval.solved_threshold=1.5"], nothing, ["solved_threshold", "[0, 1]"]),
    ("unknown_device", [*RUN, "--device", "tpu"], nothing, ["'device' must be cpu or cuda"]),
    ("zero_test_length", [*RUN, "tasks.copy.test=[0,5]"], nothing, ["length must be a positive integer, got 0"]),
    ("negative_train_length", [*RUN, "tasks.copy.train_range.length=[-2,5]"], nothing,
     ["length must be a positive integer, got -2"]),
    ("train_range_upside_down", [*RUN, "tasks.copy.train_range.length=[5,1]"], nothing, ["lo <= hi", "[5, 1]"]),
    ("unknown_train_axis", [*RUN, "tasks.copy.train_range.size=[1,5]"], nothing, ["unknown axis 'size'", "length"]),
    ("test_point_wrong_arity", [*RUN, "tasks.repeat_copy.test=[3]"], nothing, ["needs 2 value(s)", "length, repeats"]),
    ("unknown_task_arg", [*RUN, "tasks.copy.args.width=3"], nothing, ["'width'", "valid:"]),
    ("repeat_count_normalised_over_another_range", [*RUN, "tasks.repeat_copy.args.train_repeats=[1,10]"], nothing,
     ["tasks.repeat_copy", "train_repeats [1, 10] differs from the training range of repeats [1, 3]"]),
    ("bidirectional_model_on_a_leaking_task", [*RUN, "models.transformer.options.causal=false"], nothing,
     ["model 'transformer' sees later inputs", "does not allow", "causal: true"]),
    ("unknown_model_option", [*RUN, "models.lstm.options.depth=9"], nothing, ["'depth'", "valid:", "hidden_size"]),
    ("unknown_preset", [*RUN, "models.ntm.preset=huge"], nothing, ["no preset 'huge'", "tiny"]),
    # the Transformer's positional encodings and the Stack-RNN's sizes
    ("unknown_position_encoding", [*RUN, "models.transformer.options.position=xpos"], nothing,
     ["'xpos' is not one of", "'rotary'", "'sinusoidal'", "'learned'", "'alibi'", "'none'"]),
    ("randomised_without_an_encoding", [*RUN, "models.transformer.options.position=none",
                                        "models.transformer.options.randomised=true"], nothing,
     ["'randomised'", "use position alibi, learned, rotary or sinusoidal"]),
    ("test_longer_than_the_random_positions", [*RUN, "--tasks", "copy", "models.transformer.options.randomised=true",
                                               "models.transformer.options.random_max_length=12"], nothing,
     ["task 'copy' test point 8 is 17 steps long", "at most 12 steps", "max_steps"]),
    ("training_longer_than_the_learned_table", [*RUN, "--tasks", "copy", "models.transformer.options.position=learned",
                                                "models.transformer.options.max_positions=10"], nothing,
     ["task 'copy' training sequence 5 is 11 steps long", "at most 10 steps"]),
    ("stack_rnn_without_a_stack", [*RUN, "models.stack_rnn.options.stack_size=0"], nothing,
     ["stack_rnn option 'stack_size' must be at least 1, got 0"]),
    ("unknown_memory_init", [*RUN, "models.ntm.options.init_memory=zeros"], nothing,
     ["'zeros'", "'constant'", "'learned'"]),
    # test lengths that need more memory than the model may have
    ("memory_beyond_max_rows", [*COPY_NTM, "tasks.copy.test=[3,100]", "eval.max_memory_rows=16"], nothing,
     ["needs", "memory rows", "eval.max_memory_rows=16"]),
    ("memory_enlargement_off", [*COPY_NTM, "tasks.copy.test=[3,40]", "eval.enlarge_memory=false"], nothing,
     ["memory rows", "eval.enlarge_memory is off"]),
    ("learned_memory_cannot_grow", [*COPY_NTM, "tasks.copy.test=[3,40]", "models.ntm.options.init_memory=learned"],
     nothing, ["memory rows", "cannot be enlarged", "learned"]),
    ("learned_memory_too_small_at_a_sweep_point", [*COPY_NTM, "tasks.copy.test=[3,12]", "--sweep",
                                                   "models.ntm.options.memory_rows=64,8",
                                                   "models.ntm.options.init_memory=learned"],
     nothing, ["memory rows", "cannot be enlarged", "memory_rows=8"]),
    # sweeps: the key, its values, the model it names
    ("sweep_unknown_train_field", [*RUN, "--sweep", "train.lrr=1e-3,3e-4"], nothing,
     ["unknown sweep key 'train.lrr'", "valid:", "batch_size", "lr"]),
    ("sweep_unknown_key_form", [*RUN, "--sweep", "optim.lr=1e-3"], nothing,
     ["unknown sweep key 'optim.lr'", "train.<field>", "models.<label>.options.<option>"]),
    ("sweep_value_not_an_int", [*RUN, "--sweep", "train.batch_size=8,big"], nothing,
     ["sweep 'train.batch_size'", "'big' is not an int"]),
    ("sweep_value_not_a_choice", [*RUN, "--sweep", "train.optimizer=adam,sgd"], nothing,
     ["sweep 'train.optimizer'", "'sgd' is not one of", "'rmsprop'"]),
    ("sweep_value_out_of_range", [*RUN, "--sweep", "train.lr=1e-3,-1"], nothing,
     ["sweep point lr=-1.0", "'lr' must be positive"]),
    ("sweep_empty_list", [*RUN, "--sweep", "train.lr="], nothing, ["sweep 'train.lr'", "empty"]),
    ("sweep_without_values", [*RUN, "--sweep", "train.lr"], nothing, ["--sweep", "KEY=V1,V2"]),
    ("sweep_not_a_list", [*RUN, "sweep.train.lr=1e-3"], nothing, ["sweep 'train.lr'", "expected a list"]),
    ("sweep_not_a_list_in_yaml", ["run", "{tmp}/suite.yaml", "--out", "{tmp}/out"],
     suite_file(MINIMAL + "sweep: {train.lr: 0.001}\n"), ["sweep 'train.lr'", "expected a list"]),
    ("sweep_not_a_mapping", ["run", "{tmp}/suite.yaml", "--out", "{tmp}/out"],
     suite_file(MINIMAL + "sweep: [train.lr]\n"), ["sweep must be a mapping"]),
    ("sweep_unknown_model", [*RUN, "--sweep", "models.gpt5.train.lr=1e-3,3e-4"], nothing,
     ["sweep 'models.gpt5.train.lr'", "model 'gpt5' is not in this suite", "lstm, ngram_optimal, ntm"]),
    ("sweep_unknown_model_option", [*RUN, "--sweep", "models.ntm.options.depth=1,2"], nothing,
     ["unknown sweep key 'models.ntm.options.depth'", "no option 'depth'", "memory_rows"]),
    ("sweep_repeated_value", [*RUN, "--sweep", "train.lr=1e-3,0.001"], nothing, ["sweep 'train.lr'", "repeated value"]),
    ("sweep_one_field_twice", [*RUN, "--sweep", "train.lr=1e-3", "--sweep", "models.ntm.train.lr=1e-2"], nothing,
     ["'train.lr' and 'models.ntm.train.lr'", "keep one"]),
    # selections on the command line
    ("unknown_task_selected", [*RUN, "--tasks", "kopy"], nothing, ["'kopy' is not in this suite", "copy, dynamic_ngrams"]),
    ("unknown_model_selected", [*RUN, "--models", "gpt5"], nothing, ["'gpt5' is not in this suite", "lstm, ngram_optimal"]),
    ("empty_model_selection", [*RUN, "--models", ","], nothing, ["--models", "empty"]),
    ("seed_not_an_int", [*RUN, "--seeds", "0,one"], nothing, ["'one' is not an integer"]),
    ("repeated_seed", [*RUN, "--seeds", "1,1"], nothing, ["repeated seed"]),
    ("zero_workers", [*RUN, "--workers", "0"], nothing, ["--workers must be at least 1, got 0"]),
    ("workers_not_an_int", [*RUN, "--workers", "two"], nothing, ["'two' is not an integer"]),
    ("unknown_executor", [*RUN, "--executor", "slurm"], nothing, ["invalid choice: 'slurm'", "local", "dask"]),
    ("dask_without_scheduler", [*RUN, "--executor", "dask"], nothing, ["needs --scheduler"]),
    ("unknown_command", ["train", "smoke"], nothing, ["invalid choice: 'train'", "leaderboard", "run"]),
    ("unknown_flag", [*RUN, "--fast"], nothing, ["unrecognized arguments: --fast"]),
    # plugins
    ("plugin_missing", [*RUN, "--plugin", "{tmp}/nope.py"], nothing, ["plugin file", "nope.py", "does not exist"]),
    ("plugin_not_python", [*RUN, "--plugin", "{tmp}/model.txt"], file_at("model.txt"), ["is not a .py file"]),
    ("plugin_syntax_error", [*RUN, "--plugin", "{tmp}/plugin.py"], plugin_file("def broken(:\n"),
     ["plugin.py", "failed to import", "SyntaxError"]),
    ("plugin_raises_on_import", [*RUN, "--plugin", "{tmp}/plugin.py"], plugin_file("raise RuntimeError('no GPU here')\n"),
     ["plugin.py", "RuntimeError: no GPU here"]),
    ("plugin_registers_nothing", [*RUN, "--plugin", "{tmp}/plugin.py"], plugin_file("import torch\n"),
     ["plugin.py", "registers no task or model", "register_task", "register_model"]),
    ("plugin_reuses_a_model_name", [*RUN, "--plugin", "{tmp}/plugin.py"],
     plugin_file("from torch import nn\nfrom ntm_bench import register_model\n"
                 "@register_model('lstm')\nclass Mine(nn.Module):\n    pass\n"), ["'lstm' is already registered"]),
    ("plugin_in_a_missing_folder", [*RUN, "--plugin", "{tmp}/nowhere/mine.py"], nothing,
     ["plugin file", "nowhere/mine.py", "does not exist"]),
    # the model and task contracts, checked when a plugin registers its classes
    ("plugin_model_without_forward", PLUGIN_RUN, model_plugin(body="    pass\n"),
     ["plugin.py", "model 'mine'", "defines no forward(x, valid=None)"]),
    ("plugin_model_not_a_module", PLUGIN_RUN, model_plugin(base="object"),
     ["plugin.py", "model 'mine'", "derived from torch.nn.Module"]),
    ("plugin_model_built_otherwise", PLUGIN_RUN,
     model_plugin(body="    def __init__(self):\n        super().__init__()\n    def forward(self, x):\n        return x\n"),
     ["model 'mine'", "Mine(input_size, output_size) must be how it is built"]),
    ("plugin_forward_without_inputs", PLUGIN_RUN, model_plugin(body=LINEAR.replace("forward(self, x, valid=None)", "forward(self)")),
     ["model 'mine'", "forward must take the inputs x"]),
    ("plugin_trace_not_a_method", PLUGIN_RUN, model_plugin(body=LINEAR + "    trace = 5\n"),
     ["model 'mine'", "trace must be a method", "(logits (B, T, outputs), {head name: weights (B, T, N)})"]),
    ("plugin_memory_rows_without_setter", PLUGIN_RUN, model_plugin(body=LINEAR + "    memory_rows = 16\n"),
     ["model 'mine'", "has memory_rows but no set_memory_rows(rows)"]),
    ("plugin_preset_unknown_key", PLUGIN_RUN,
     model_plugin("@register_model('mine', presets={'tiny': {'*': {'opts': {}}}})"),
     ["model 'mine' preset 'tiny' (*)", "unknown key 'opts'", "options, train"]),
    ("plugin_preset_unknown_option", PLUGIN_RUN,
     model_plugin("@register_model('mine', config=Cfg, presets={'tiny': {'copy': {'options': {'hiden': 8}}}})",
                  body=LINEAR.replace("(self, i, o)", "(self, i, o, cfg)"),
                  head="from dataclasses import dataclass\n@dataclass(frozen=True)\nclass Cfg:\n    hidden: int = 4\n"),
     ["model 'mine' preset 'tiny' (copy) option", "'hiden'", "hidden"]),
    ("plugin_preset_unknown_train_key", PLUGIN_RUN,
     model_plugin("@register_model('mine', presets={'tiny': {'*': {'train': {'lrr': 1}}}})"),
     ["preset 'tiny'", "unknown train key 'lrr'", "valid:", "lr"]),
    ("plugin_lacks_the_preset_asked_for", [*PLUGIN_RUN, "--models", "mine", "models.mine.preset=tiny"],
     model_plugin(), ["model 'mine' (plugin", "plugin.py", "has no preset 'tiny'", "presets: (none)"]),
    ("plugin_task_decorators_in_the_wrong_order", PLUGIN_RUN,
     task_plugin(SIZES, "@dataclass(frozen=True)\n@register_task('mine')"),
     ["task 'mine'", "must be a dataclass", "above @dataclass(frozen=True)"]),
    ("plugin_task_not_a_task", PLUGIN_RUN,
     plugin_file(TASK + "@register_task('mine')\n@dataclass(frozen=True)\nclass Mine:\n    pass\n"),
     ["task 'mine'", "derived from ntm_bench.Task"]),
    ("plugin_task_bad_version", PLUGIN_RUN, task_plugin(SIZES + "    version: ClassVar[int] = 0\n"),
     ["task 'mine'", "version must be a positive integer, got 0"]),
    ("plugin_task_range_misses_an_axis", PLUGIN_RUN,
     task_plugin(SIZES.replace("('length',)", "('length', 'width')")),
     ["task 'mine'", "default_train must give a (lo, hi) range for each axis (length, width)"]),
    ("plugin_task_without_sample", PLUGIN_RUN, task_plugin(SIZES),
     ["task 'mine'", "does not define sample (or draw and encode)"]),
    # comparing with other results folders
    ("compare_with_missing_folder", [*RUN, "--compare-with", "{tmp}/nope"], nothing,
     ["results folder", "nope", "does not exist"]),
    ("compare_with_not_a_suite_output", [*RUN, "--compare-with", "{tmp}/res"], folder("res", "runs"),
     ["res", "is not a suite output folder (no suite.json"]),
    ("compare_with_a_file", [*RUN, "--compare-with", "{tmp}/res"], file_at("res"), ["res", "is not a folder"]),
    ("compare_with_no_run_records", [*RUN, "--compare-with", "{tmp}/ref"], reference_folder(runs=False),
     ["ref", "holds no complete run records"]),
    ("compare_with_other_test_sequences", [*RUN, "--compare-with", "{tmp}/ref"], reference_folder(eval_seed=7),
     ["cannot compare with", "ref", "eval.seed is 1234 here, 7 in", "--allow-mismatch"]),
    ("leaderboard_of_a_second_missing_folder", ["leaderboard", "{tmp}/res", "{tmp}/nope"], folder("res"),
     ["nope", "does not exist"]),
    ("leaderboard_comparing_a_folder_without_suite_json", ["leaderboard", "{tmp}/a", "{tmp}/b"], fixture_copies,
     ["b", "is not a suite output folder"]),
    # output folders
    ("out_is_a_file", ["run", "smoke", "--workers", "1", "--out", "{tmp}/out"], file_at("out"), ["is a file"]),
    ("out_under_a_file", ["run", "smoke", "--workers", "1", "--out", "{tmp}/out/inner"], file_at("out"),
     ["cannot create output folder"]),
    pytest.param("out_not_writable", ["run", "smoke", "--workers", "1", "--out", "{tmp}/ro/out"], folder("ro"),
                 ["cannot create output folder", "Permission denied"],
                 marks=pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere"), id="out_not_writable"),
    # results folders for report / leaderboard / plot
    ("leaderboard_of_empty_folder", ["leaderboard", "{tmp}/res"], folder("res"), ["no run records"]),
    ("report_of_empty_folder", ["report", "{tmp}/res"], folder("res", "runs"), ["no run records"]),
    ("plot_of_empty_folder", ["plot", "{tmp}/res", "--kind", "curves"], folder("res"), ["no run records"]),
    ("leaderboard_of_missing_folder", ["leaderboard", "{tmp}/nope"], nothing, ["'", "nope", "does not exist"]),
    ("report_of_a_file", ["report", "{tmp}/res"], file_at("res"), ["is not a folder"]),
    ("leaderboard_of_only_broken_records", ["leaderboard", "{tmp}/res"], results_with_broken_summary,
     ["no readable summary.json"]),
    ("bad_leaderboard_format", ["leaderboard", "{tmp}/res", "--format", "xls"], folder("res"),
     ["invalid choice: 'xls'", "md", "csv"]),
    ("bad_plot_kind", ["plot", "{tmp}/res", "--kind", "heatmap"], folder("res"),
     ["invalid choice: 'heatmap'", "curves", "lengths", "memory"]),
    ("bad_plot_format", ["plot", "{tmp}/res", "--kind", "curves", "--format", "gif"], folder("res"),
     ["invalid choice: 'gif'", "pdf", "png", "svg"]),
    ("plot_without_kind", ["plot", "{tmp}/res"], folder("res"), ["--kind"]),
]


def snapshot(tmp: Path) -> dict:
    return {str(p.relative_to(tmp)): (p.is_dir(), p.stat().st_mtime_ns, p.is_file() and p.stat().st_size)
            for p in sorted(tmp.rglob("*"))}


@pytest.fixture(autouse=True)
def _restore_registry():
    snap = registry.reset_for_tests()
    yield
    registry.reset_for_tests(snap)


@pytest.mark.parametrize("case, argv, setup, expected",
                         [c if hasattr(c, "values") else pytest.param(*c, id=c[0]) for c in CASES])
def test_bad_input_gets_one_clear_line_and_changes_nothing(case, argv, setup, expected, tmp_path, capsys):
    setup(tmp_path)
    if case == "out_not_writable":
        (tmp_path / "ro").chmod(0o500)
    before = snapshot(tmp_path)
    rc = main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert rc != 0
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "Traceback" not in err
    for fragment in expected:
        assert fragment in lines[0], (fragment, lines[0])
    assert snapshot(tmp_path) == before


def test_there_are_at_least_forty_bad_input_cases():
    assert len(CASES) >= 40


@pytest.mark.parametrize("argv, fragment", [
    (["run", "smoke", "--workers", "0"], "--workers must be at least 1"),
    (["run", "smoke", "--sweep", "train.lrr=1e-3,3e-4", "--out", "{tmp}/out"], "unknown sweep key 'train.lrr'"),
    (["run", "{tmp}/suite.yaml"], "malformed YAML"),
    (["run", "smoke", "models.transformer.options.causal=false", "--out", "{tmp}/out"], "sees later inputs"),
    (["leaderboard", "{tmp}", "--format", "xls"], "invalid choice: 'xls'"),
])
def test_bad_input_as_a_real_process_is_one_line_and_exit_code_2(argv, fragment, tmp_path):
    (tmp_path / "suite.yaml").write_text("tasks: [copy\n")
    before = snapshot(tmp_path)
    proc = subprocess.run([sys.executable, "run_bench.py", *[a.replace("{tmp}", str(tmp_path)) for a in argv]],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and fragment in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert snapshot(tmp_path) == before
