"""Atomic writes, JSON merging and safetensors checkpoints."""

import json

import pytest
import torch

from vaelab import rundir
from vaelab.errors import VaelabError


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "metrics.json"
    rundir.write_json(target, {"a": 1})
    with pytest.raises(RuntimeError), rundir.atomic_path(target) as tmp:
        tmp.write_text("half written")
        raise RuntimeError("crash while writing")
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temp file left


def test_merge_json_adds_without_clobbering(tmp_path):
    target = tmp_path / "metrics.json"
    rundir.merge_json(target, {"test": {"elbo": -90.0}, "note": "x"})
    merged = rundir.merge_json(target, {"test": {"nll": 85.0}, "val": {"elbo": -91.0}})
    assert merged == {"test": {"elbo": -90.0, "nll": 85.0}, "note": "x",
                      "val": {"elbo": -91.0}}


def test_checkpoint_round_trip_keeps_tensors_and_metadata(tmp_path):
    state = {"w": torch.randn(3, 4), "b": torch.arange(5)}
    meta = {"config": {"train": {"epochs": 2}}, "epoch": 2}
    rundir.save_checkpoint(tmp_path / "m.safetensors", state, meta)
    tensors, loaded_meta = rundir.load_checkpoint(tmp_path / "m.safetensors")
    assert loaded_meta == {**meta, "run_format": rundir.RUN_FORMAT}
    for name in state:
        assert torch.equal(tensors[name], state[name])


def test_corrupt_or_missing_checkpoints_are_clear_errors(tmp_path):
    with pytest.raises(VaelabError, match="is missing"):
        rundir.load_checkpoint(tmp_path / "none.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x80\x04garbage that is not safetensors")
    with pytest.raises(VaelabError, match="not a valid safetensors file"):
        rundir.load_checkpoint(bad)


def test_corrupt_json_and_history_are_clear_errors(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(VaelabError, match="not valid JSON"):
        rundir.read_json(tmp_path / "config.json")
    (tmp_path / "history.csv").write_text("epoch,loss\n1,abc\n")
    with pytest.raises(VaelabError, match="corrupt"):
        rundir.read_history(tmp_path / "history.csv")


def test_a_pickle_disguised_as_a_checkpoint_is_refused_without_running(tmp_path):
    """Loading uses safetensors only: a pickle payload is never executed."""
    import pickle

    marker = tmp_path / "executed"

    class Payload:
        def __reduce__(self):
            return (marker.write_text, ("pwned",))

    fake = tmp_path / "model.safetensors"
    fake.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(VaelabError, match="not a valid safetensors file"):
        rundir.load_checkpoint(fake)
    assert not marker.exists()


def test_other_run_formats_are_refused(tmp_path):
    rundir.save_checkpoint(tmp_path / "m.safetensors", {"w": torch.zeros(1)}, {"epoch": 1})
    _, meta = rundir.load_checkpoint(tmp_path / "m.safetensors")
    assert meta["run_format"] == rundir.RUN_FORMAT
    with pytest.raises(VaelabError, match="run format 99.*retrain"):
        rundir.check_format(99, tmp_path / "config.json")


def test_atomic_files_get_the_usual_permissions(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        rundir.write_json(tmp_path / "a.json", {})
    finally:
        os.umask(umask)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644
