"""Sweep identity (issue 12, class 6): a sweep directory belongs to one spec. Another spec
there is refused (unless --force), seeds may be added, command-line sweeps without --out get
a directory named after their spec, and no name places a file outside the sweep's parent."""

import json
from pathlib import Path

import pytest
from conftest import run_cli
from hypothesis import given, settings
from hypothesis import strategies as st
from test_sweep import TINY, tiny_spec

from vaelab.errors import VaelabError
from vaelab.sweep import layout
from vaelab.sweep import state as sweep_state
from vaelab.sweep.runner import load_spec, prepare_manifest


def prepare(spec, out, force=False):
    return prepare_manifest(spec, out, force=force, backend="local", command=["test"],
                            extra=None)


def test_another_grid_is_refused_not_merged(tmp_path):
    # The original failure: a second sweep with other points was merged into the first
    # (spec overwritten, summary mixing settings).
    out = tmp_path / "s"
    prepare(tiny_spec(grid={"beta": [0.5, 1.0]}), out)
    before = (out / "sweep.json").read_bytes()
    for other in (tiny_spec(grid={"lr": [0.01]}), tiny_spec(grid={"beta": [2.0]}),
                  tiny_spec(grid={"beta": [0.5, 1.0]}, metrics=["elbo", "collapse"]),
                  tiny_spec(grid={"beta": [0.5, 1.0]}, iw_samples=50)):
        with pytest.raises(VaelabError, match="holds another sweep.*--force"):
            prepare(other, out)
        assert (out / "sweep.json").read_bytes() == before
    prepare(tiny_spec(grid={"lr": [0.01]}), out, force=True)
    assert [p.name for p in load_spec(out).points] == ["lr=0.01"]


def test_more_seeds_extend_the_same_sweep(tmp_path):
    out = tmp_path / "s"
    prepare(tiny_spec(grid={"beta": [0.5]}, seeds=1), out)
    manifest = prepare(tiny_spec(grid={"beta": [0.5]}, seeds=[0, 1], name="renamed"), out)
    assert [p["name"] for p in manifest["points"]] == ["beta=0.5-seed0", "beta=0.5-seed1"]
    assert load_spec(out).seeds == [0, 1]
    assert manifest["spec_id"] == tiny_spec(grid={"beta": [0.5]}).identity()


def test_identity_ignores_name_title_seeds_only():
    spec = tiny_spec(grid={"beta": [0.5]})
    assert spec.identity() == tiny_spec(grid={"beta": [0.5]}, name="x", title="t",
                                        seeds=3).identity()
    assert spec.identity() != tiny_spec(grid={"beta": [0.6]}).identity()
    assert spec.identity() != tiny_spec(grid={"beta": [0.5]}, figures=True).identity()
    assert spec.identity() != tiny_spec(grid={"beta": [0.5]}, base={
        **TINY, "train": {"epochs": 2}}).identity()


def test_command_line_sweeps_without_out_get_one_directory_each(tmp_path, monkeypatch,
                                                                 capsys, one_thread):
    monkeypatch.chdir(tmp_path)
    common = ["--dataset", "digits", "--subset", "200", "--hidden", "16", "--epochs", "1",
              "--no-figures", "--metrics", "elbo", "--workers", "1", "--quiet"]
    for grid in ("latent-dim=2", "latent-dim=3", "latent-dim=2"):
        code, _, err = run_cli(monkeypatch, capsys, "sweep", "--grid", grid, *common)
        assert code == 0, err
    folders = sorted(p.name for p in (tmp_path / "sweeps").iterdir())
    assert len(folders) == 2 and all(f.startswith("sweep-") for f in folders)
    for folder in folders:
        manifest = json.loads((tmp_path / "sweeps" / folder / "sweep.json").read_text())
        assert len(manifest["points"]) == 1 and folder == f"sweep-{manifest['spec_id']}"
        code, _, err = run_cli(monkeypatch, capsys, "sweep", "--resume",
                               f"sweeps/{folder}", "--quiet")
        assert code == 0, err


BAD_NAMES = ["../evil", "..", ".", "a/b", "/abs", ".hidden", "", "a\nb", "x" * 200,
             "..\\win", "name with space"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_unsafe_sweep_names_are_refused_before_writing(tmp_path, monkeypatch, capsys, name):
    (tmp_path / "inner").mkdir()
    monkeypatch.chdir(tmp_path / "inner")
    code, _, err = run_cli(monkeypatch, capsys, "sweep", "--grid", "beta=1", "--dataset",
                           "digits", "--name", name)
    assert code == 2 and "not a plain directory name" in err
    assert len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["inner"]


def test_a_sweep_file_name_cannot_escape(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.toml").write_text('name = "../../escape"\n[grid]\nbeta = [1.0]\n')
    code, _, err = run_cli(monkeypatch, capsys, "sweep", "s.toml", "--dataset", "digits")
    assert code == 2 and "s.toml: name '../../escape' is not a plain directory" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml"]


def test_a_tampered_manifest_cannot_lead_a_run_outside(tmp_path):
    out = tmp_path / "s"
    prepare(tiny_spec(), out)
    manifest = json.loads((out / "sweep.json").read_text())
    manifest["points"][0]["name"] = "../../outside"
    (out / "sweep.json").write_text(json.dumps(manifest))
    with pytest.raises(VaelabError, match="run name '../../outside' is not a plain"):
        sweep_state.read_manifest(out)
    with pytest.raises(VaelabError, match="not a plain"):
        layout.status_path(out, "../x")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_fuzz_no_accepted_name_leaves_the_sweeps_folder(name):
    try:
        path = layout.default_dir(name)
    except VaelabError as err:
        assert "\n" not in str(err)
        return
    root = Path("/base") / layout.SWEEPS_ROOT
    resolved = (root.parent / path).resolve()
    assert resolved.parent == root and resolved.name == name and not name.startswith(".")


def test_fid_features_changes_the_identity_only_when_chosen():
    from vaelab.sweep.spec import metric_options

    spec = tiny_spec(grid={"beta": [0.5]})
    # Left at its default it is not stored, so sweeps written before it keep their id.
    assert "fid_features" not in spec.to_dict()
    assert tiny_spec(grid={"beta": [0.5]}, fid_features="classifier").identity() == \
        spec.identity()
    classifier = tiny_spec(grid={"beta": [0.5]}, fid_samples=500, metrics=["elbo", "fid"])
    inception = tiny_spec(grid={"beta": [0.5]}, fid_features="inception", fid_samples=500,
                          metrics=["elbo", "fid"])
    assert inception.identity() != classifier.identity()
    options = metric_options(inception.to_dict())
    assert options["fid"] == options["prdc"] == {"n_samples": 500, "features": "inception"}
    with pytest.raises(VaelabError, match="fid_features must be one of classifier, inception"):
        tiny_spec(grid={"beta": [0.5]}, fid_features="vgg", metrics=["fid"])


def test_fid_features_without_a_metric_that_reads_it_is_refused():
    with pytest.raises(VaelabError, match="fid_features inception .* neither is among"):
        tiny_spec(grid={"beta": [0.5]}, fid_features="inception")  # metrics: elbo only
