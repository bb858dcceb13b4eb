"""Committed results seen from a machine that did not make them: frozen, stale, or neither;
and an evaluation without its model fails with a clear message."""

import json

from semigan.cli import main
import os

from semigan.committed import (differing_fields, is_frozen, mark_out_of_date, record_matches, stale_fields,
                               write_input_record)

SPEC = {"method": "ssl_gan", "seed": 1, "hparams": {"lr": 0.003, "beta2": 0.9999}, "train": {"steps": 30000}}


def _committed(tmp_path, config):
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"test_error_pct": 1.2, "config": config}))
    return metrics


def test_differing_fields_name_nested_settings():
    new = {**SPEC, "hparams": {"lr": 0.003, "beta2": 0.999}, "extra": 1}
    assert differing_fields(SPEC, new) == ["extra", "hparams.beta2"]
    assert differing_fields(SPEC, json.loads(json.dumps(SPEC))) == []


def test_frozen_when_committed_without_model_and_stale_when_settings_changed(tmp_path):
    model = tmp_path / "model.pt"
    assert not is_frozen(tmp_path / "metrics.json", model)  # nothing committed: a new cell
    assert stale_fields(tmp_path / "metrics.json", SPEC) == []
    metrics = _committed(tmp_path, SPEC)
    assert is_frozen(metrics, model)  # a clone: the committed result stands
    assert stale_fields(metrics, SPEC) == []
    assert stale_fields(metrics, {**SPEC, "train": {"steps": 10000}}) == ["train.steps"]
    model.write_bytes(b"weights")
    assert not is_frozen(metrics, model)  # made here: Snakemake's own triggers apply


def test_input_record_matches_only_the_same_files_with_the_same_content(tmp_path):
    a, b, record = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "record.json"
    a.write_text("1")
    b.write_text("2")
    assert not record_matches(record, [str(a), str(b)])  # never recorded
    write_input_record([str(a), str(b)], record)
    assert record_matches(record, [str(a), str(b)])
    os.utime(a, (1, 1))
    assert record_matches(record, [str(a), str(b)])  # times do not matter
    assert not record_matches(record, [str(a)])  # an input left out
    assert not record_matches(record, [str(a), str(b), str(tmp_path / "new.json")])  # a new cell
    b.write_text("3")
    assert not record_matches(record, [str(a), str(b)])  # changed content
    mark_out_of_date(record)
    assert record.stat().st_mtime == 1


def test_evaluate_without_the_model_says_what_to_do(tmp_path, capsys):
    code = main(["evaluate", "--model", str(tmp_path / "model.pt"), "--data", str(tmp_path),
                 "--out", str(tmp_path / "metrics.json")])
    assert code == 2
    err = capsys.readouterr().err
    assert "no model at" in err and "delete its metrics.json" in err
    assert not (tmp_path / "metrics.json").exists()
