"""The run record's schema (ntm_bench/run_record.py) against docs/records.md and the shipped records."""
import dataclasses
import json
import re
import shutil
import typing
from pathlib import Path

import pytest

from ntm_bench.report.load import load_results
from ntm_bench.run_record import (STOPPED_BY, CurveRow, Env, EvalRow, Fingerprints, ModelRecord, RecordError,
                                  RunRecord, TaskRecord, TrainingRecord)

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "records.md").read_text()
SHIPPED = sorted(ROOT.glob("results/**/runs/*/summary.json"))


def names(cls) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def documented_summary() -> dict:
    block = DOC.split("## `summary.json`", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    return json.loads(block)


def test_docs_show_every_summary_key_in_the_order_it_is_written():
    doc = documented_summary()
    assert list(doc) == names(RunRecord)
    for key, cls in (("task", TaskRecord), ("model", ModelRecord), ("training", TrainingRecord),
                     ("fingerprints", Fingerprints)):
        assert list(doc[key]) == names(cls), key
    assert list(doc["eval"][0]) == names(EvalRow)
    assert list(doc["env"]) == list(typing.get_type_hints(Env))  # every key an environment may have


def test_docs_list_every_status_stop_reason_split_and_curve_column():
    doc = documented_summary()
    assert doc["status"].split(" | ") == list(typing.get_args(typing.get_type_hints(RunRecord)["status"]))
    assert tuple(doc["training"]["stopped_by"].split(" | ")) == STOPPED_BY
    assert doc["eval"][0]["split"].split(" | ") == ["train", "unseen"]
    row = re.search(r"## `curve.jsonl` rows\n`\{(.*)\}`", DOC).group(1)
    assert [k.strip().strip('"') for k in row.split(",")] == names(CurveRow)


def test_every_shipped_record_reads_back_through_the_schema():
    assert len(SHIPPED) > 200
    for path in SHIPPED:
        data = json.loads(path.read_text())
        again = RunRecord.from_json(data).to_json()
        # every key it has reads back unchanged; it lacks only keys added to schema 1 after it was written
        assert restricted(again, data) == data, path
        assert set(again) - set(data) <= {"sweep", "plugin_sha256", "trace_error"}, path
        assert set(again["task"]) - set(data["task"]) <= {"plugin"}, path


def restricted(value, like):
    """`value` with only the keys `like` has, at every level."""
    if isinstance(like, dict) and isinstance(value, dict):
        return {k: restricted(value[k], like[k]) for k in like}
    if isinstance(like, list) and isinstance(value, list):
        return [restricted(v, w) for v, w in zip(value, like)]
    return value


def test_a_key_added_later_reads_as_it_was_before_it_existed():
    record = RunRecord.from_json({"schema": 1, "run_id": "x", "suite": "s", "status": "ok", "error": None,
                                  "task": {"name": "copy"}, "model": {"name": "lstm"},
                                  "training": {"steps": 3, "best_val": None}, "eval": [{"point": [3]}, "junk"]})
    assert record.sweep == {} and record.plugin_sha256 == {} and record.config_hash is None
    assert record.model.preset is None and record.model.reference is False and record.training.restarts == 0
    assert [e.point for e in record.eval] == [[3]] and record.fingerprints is None and record.notes == []


@pytest.mark.parametrize("data, line", [
    ({"schema": 2, "task": {}, "model": {}}, "a schema-2 run record (this version reads schema 1)"),
    ({"schema": 1, "task": "copy", "model": {}}, "not a run summary (no task/model)"),
    ([1, 2], "not a run summary (no task/model)"),
])
def test_a_record_this_version_cannot_read_is_refused_in_one_line(data, line):
    with pytest.raises(RecordError, match=re.escape(line)):
        RunRecord.from_json(data)


def test_a_report_skips_a_record_of_another_schema_with_one_line_naming_it(tmp_path):
    root = tmp_path / "res"
    shutil.copytree(ROOT / "tests" / "fixtures" / "records" / "basic", root)
    path = root / "runs" / "copy__lstm__s0" / "summary.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "schema": 2}))
    r = load_results(root)
    assert "copy__lstm__s0" not in set(r.runs["run_id"])
    assert ("runs/copy__lstm__s0/summary.json: a schema-2 run record (this version reads schema 1); skipped"
            in r.problems)


def test_the_environment_stamp_writes_only_keys_the_schema_declares():
    from ntm_bench.records import environment

    env = environment("cpu")
    assert set(env) <= set(typing.get_type_hints(Env))
    assert {"python", "torch", "torch_build", "platform", "cpu", "device", "threads", "deterministic"} <= set(env)
