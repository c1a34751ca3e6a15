"""Sweeps: spec expansion and its errors, the manifest, aggregation against per-run
numbers, skipping finished runs, claims between processes, failures that spare the rest."""

import json
import os
import subprocess
import sys
import time

import pytest
from conftest import run_cli

from vaelab import rundir
from vaelab.config import Config
from vaelab.errors import VaelabError
from vaelab.sweep import run_sweep, spec_from_dict
from vaelab.sweep import state as sweep_state
from vaelab.sweep.aggregate import mean_std
from vaelab.sweep.spec import parse_grid_option, parse_seeds

TINY = {"data": {"dataset": "digits", "subset": 300}, "train": {"epochs": 1},
        "network": {"hidden": [32], "latent_dim": 4}}


def tiny_spec(**raw):
    return spec_from_dict({"base": TINY, "figures": False, "metrics": ["elbo"], **raw},
                          where="test")


# -- spec -------------------------------------------------------------------------------
def test_grid_times_zip_times_seeds():
    spec = tiny_spec(grid={"beta": [0.1, 1.0]}, zip={"hidden": [[16], [32, 16]],
                                                     "lr": [1e-3, 3e-4]}, seeds=2)
    runs = spec.runs()
    assert len(spec.points) == 4 and len(runs) == 8
    names = [p.name for p in spec.points]
    assert names[0] == "hidden=16,lr=0.001,beta=0.1"
    assert "hidden=32-16,lr=0.0003,beta=1" in names
    run = next(r for r in runs if r.point == "hidden=32-16,lr=0.0003,beta=1" and r.seed == 1)
    assert run.config.network.hidden == [32, 16] and run.config.train.lr == 3e-4
    assert run.config.objective.beta == 1.0 and run.config.train.seed == 1
    assert run.dir_name == "hidden=32-16,lr=0.0003,beta=1-seed1"


def test_explicit_points_and_typed_values():
    spec = tiny_spec(points=[{"name": "ae", "objective": "ae"}, {"beta": "0.5"}])
    assert [p.name for p in spec.points] == ["ae", "beta=0.5"]
    assert spec.points[1].overrides == {"beta": 0.5}  # "0.5" parsed as the config would


def test_no_grid_is_one_base_point():
    assert [p.name for p in tiny_spec().points] == ["base"]


@pytest.mark.parametrize("raw, message", [
    ({"grid": {"betta": [1.0]}}, "did you mean 'beta'"),
    ({"grid": {"beta": []}}, "non-empty list"),
    ({"grid": {"beta": 1.0}}, "non-empty list"),
    ({"zip": {"beta": [1.0, 2.0], "lr": [0.1]}}, "equal lengths"),
    ({"grid": {"seed": [1, 2]}}, "seeds = N"),
    ({"points": [{"name": "a", "beta": 1.0}, {"name": "a", "beta": 2.0}]}, "used twice"),
    ({"grid": {"beta": [-1.0]}}, "beta"),
    ({"grid": {"latent_dim": ["x"]}}, "expects an integer"),
    ({"seeds": 0}, "seeds must be >= 1"),
    ({"seeds": [1, 1]}, "duplicates"),
    ({"grids": {}}, "did you mean 'grid'"),
    ({"metrics": ["elbo", "nll"]}, "unknown metric"),
])
def test_spec_errors_are_one_line(raw, message):
    with pytest.raises(VaelabError) as err:
        tiny_spec(**raw)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_grid_option_parsing():
    assert parse_grid_option("beta=0,0.1,1") == ("beta", ["0", "0.1", "1"])
    assert parse_grid_option("hidden=128;256,128;none") == ("hidden", ["128", "256,128",
                                                                       "none"])
    assert parse_grid_option("latent-dim=2,10") == ("latent_dim", ["2", "10"])
    for bad in ("beta", "beta=", "=1,2", "beta=1,,2"):
        with pytest.raises(VaelabError):
            parse_grid_option(bad)
    assert parse_seeds("3", where="x") == [0, 1, 2]
    assert parse_seeds("4,7", where="x") == [4, 7]


def test_mean_std_known_answer():
    stats = mean_std([1.0, 2.0, 3.0, 4.0])
    assert stats["mean"] == 2.5 and abs(stats["std"] - 1.2909944487) < 1e-9
    assert mean_std([5.0]) == {"mean": 5.0, "std": None, "n": 1}


# -- running ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory, one_thread):
    out = tmp_path_factory.mktemp("sweep") / "beta"
    spec = tiny_spec(grid={"beta": [0.5, 1.0]}, seeds=2, name="beta")
    summary = run_sweep(spec, out, workers=1, progress=False, command=["test"])
    return out, summary


def test_sweep_writes_manifest_runs_and_summary(finished_sweep):
    out, summary = finished_sweep
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["sweep_format"] == 1 and manifest["name"] == "beta"
    assert [p["name"] for p in manifest["points"]] == [
        "beta=0.5-seed0", "beta=0.5-seed1", "beta=1-seed0", "beta=1-seed1"]
    for entry in manifest["points"]:
        run = out / entry["run"]
        info = json.loads((run / "config.json").read_text())
        assert info["config"]["objective"]["beta"] == entry["overrides"]["beta"]
        assert info["config"]["train"]["seed"] == entry["seed"]
        assert sweep_state.read_status(out, entry["name"])["status"] == "done"
    # The table is the mean and sample std of the runs' own metrics.json values.
    group = next(g for g in summary["groups"] if g["group"] == "beta=1")
    elbos = [json.loads((out / "runs" / f"beta=1-seed{s}" / "metrics.json").read_text())
             ["test"]["elbo"] for s in (0, 1)]
    assert group["n"] == 2
    assert group["values"]["test.elbo"]["mean"] == pytest.approx(sum(elbos) / 2)
    assert group["values"]["test.elbo"]["std"] == pytest.approx(abs(elbos[0] - elbos[1])
                                                                / 2 ** 0.5)
    assert json.loads((out / "summary.json").read_text()) == summary
    header = (out / "summary.csv").read_text().splitlines()[0]
    assert header.startswith("point,seeds_done,test.elbo_mean,test.elbo_std")


def test_rerun_skips_finished_runs(finished_sweep):
    out, summary = finished_sweep
    before = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/model.safetensors")}
    spec = tiny_spec(grid={"beta": [0.5, 1.0]}, seeds=2, name="beta")
    again = run_sweep(spec, out, workers=1, progress=False, command=["test"])
    assert {p: p.stat().st_mtime_ns for p in out.glob("runs/*/model.safetensors")} == before
    assert again == summary


def test_changed_point_config_is_refused(finished_sweep):
    out, _ = finished_sweep
    manifest = (out / "sweep.json").read_bytes()
    spec = tiny_spec(grid={"beta": [0.5, 1.0]}, seeds=2, name="beta", base={
        **TINY, "train": {"epochs": 2}})
    with pytest.raises(VaelabError, match="already exists with another config"):
        run_sweep(spec, out, workers=1, progress=False)
    assert (out / "sweep.json").read_bytes() == manifest


def test_non_sweep_directory_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(VaelabError, match="holds no sweep.json"):
        run_sweep(tiny_spec(), tmp_path, workers=1, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != ".sweep.lock") == [
        "notes.txt"]


def test_unknown_backend_writes_nothing(tmp_path):
    with pytest.raises(VaelabError, match="unknown sweep backend 'rey'.*'ray'"):
        run_sweep(tiny_spec(), tmp_path / "s", backend="rey", progress=False)
    assert not (tmp_path / "s").exists()


def test_a_failing_run_spares_the_others(tmp_path, monkeypatch, one_thread):
    from vaelab.sweep import worker

    real = worker.train_and_evaluate

    def flaky(task, run_path):
        if task["run"].startswith("beta=2"):
            raise VaelabError("injected failure")
        real(task, run_path)

    monkeypatch.setattr(worker, "train_and_evaluate", flaky)
    spec = tiny_spec(grid={"beta": [1.0, 2.0]})
    with pytest.raises(VaelabError, match="1 of 2 sweep runs failed .*injected failure"):
        run_sweep(spec, tmp_path / "s", workers=1, progress=False)
    assert sweep_state.read_status(tmp_path / "s", "beta=1-seed0")["status"] == "done"
    failed = sweep_state.read_status(tmp_path / "s", "beta=2-seed0")
    assert failed["status"] == "failed" and failed["error"] == "injected failure"
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert [g["n"] for g in summary["groups"]] == [1, 0]
    # Once the cause is gone, re-running trains only the failed run.
    monkeypatch.setattr(worker, "train_and_evaluate", real)
    done_model = tmp_path / "s" / "runs" / "beta=1-seed0" / "model.safetensors"
    stamp = done_model.stat().st_mtime_ns
    run_sweep(spec, tmp_path / "s", workers=1, progress=False)
    assert sweep_state.read_status(tmp_path / "s", "beta=2-seed0")["status"] == "done"
    assert done_model.stat().st_mtime_ns == stamp


# -- claims -----------------------------------------------------------------------------
def test_claims_exclude_live_processes_and_take_over_dead_ones(tmp_path):
    assert sweep_state.try_claim(tmp_path, "run-a")
    assert not sweep_state.try_claim(tmp_path, "run-a")  # held (by this live process)
    sweep_state.release_claim(tmp_path, "run-a")
    assert sweep_state.try_claim(tmp_path, "run-a")

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    claim = tmp_path / "state" / "run-b.claim"
    claim.write_text(json.dumps({"pid": dead.pid, "host": os.uname().nodename}))
    assert sweep_state.try_claim(tmp_path, "run-b")  # its process is gone: stale
    assert json.loads(claim.read_text())["pid"] == os.getpid()

    claim = tmp_path / "state" / "run-c.claim"
    claim.write_text(json.dumps({"pid": dead.pid, "host": "another-host"}))
    assert not sweep_state.try_claim(tmp_path, "run-c")  # cannot check: respected


def _sweep_command(out, *extra):
    return [sys.executable, "-m", "vaelab", "sweep", "--grid", "beta=0.25,0.5,1,2",
            "--dataset", "digits", "--subset", "300", "--hidden", "32", "--latent-dim", "4",
            "--epochs", "2", "--no-figures", "--metrics", "elbo", "--workers", "1",
            "--out", str(out), *extra]


@pytest.mark.slow
def test_two_sweep_processes_share_the_work(tmp_path):
    """Two processes on one directory: every run is trained by exactly one of them."""
    out = tmp_path / "shared"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(_sweep_command(out), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    done_lines = [line.split()[1] for _, err in outputs for line in err.splitlines()
                  if line.strip().startswith("done ")]
    assert sorted(done_lines) == ["beta=0.25-seed0", "beta=0.5-seed0", "beta=1-seed0",
                                  "beta=2-seed0"]
    manifest = json.loads((out / "sweep.json").read_text())
    assert len(manifest["points"]) == 4


@pytest.mark.slow
def test_killed_sweep_resumes_without_redoing_finished_runs(tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen(_sweep_command(out, "--seeds", "1") + ["--epochs", "6"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    # Kill once the first run is done and the second is between epochs.
    deadline = time.monotonic() + 120
    second = out / "runs" / "beta=0.5-seed0" / "history.csv"
    while time.monotonic() < deadline:
        if second.exists() and len(rundir.read_history(second)) >= 2:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, 9)
    proc.wait()
    first = out / "runs" / "beta=0.25-seed0" / "model.safetensors"
    assert sweep_state.read_status(out, "beta=0.25-seed0")["status"] == "done"
    stamp = first.stat().st_mtime_ns
    result = subprocess.run([sys.executable, "-m", "vaelab", "sweep", "--resume",
                             str(out), "--workers", "1"], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert first.stat().st_mtime_ns == stamp
    info = json.loads((out / "runs" / "beta=0.5-seed0" / "config.json").read_text())
    assert "resumed" in info  # continued, not restarted
    for name in ("beta=0.5-seed0", "beta=1-seed0", "beta=2-seed0"):
        assert sweep_state.read_status(out, name)["status"] == "done"
        assert len(rundir.read_history(out / "runs" / name / "history.csv")) == 6


# -- command line -----------------------------------------------------------------------
def test_cli_sweep_runs_and_prints_the_table(tmp_path, monkeypatch, capsys, one_thread):
    code, out, err = run_cli(monkeypatch, capsys, "sweep", "--grid", "latent-dim=2,3",
                             "--dataset", "digits", "--subset", "200", "--hidden", "16",
                             "--epochs", "1", "--no-figures", "--metrics", "elbo",
                             "--workers", "1", "--out", tmp_path / "cli", "--quiet")
    assert code == 0, err
    assert "latent_dim=2" in out and "test ELBO" in out
    manifest = json.loads((tmp_path / "cli" / "sweep.json").read_text())
    assert Config.from_dict(manifest["points"][1]["config"]).network.latent_dim == 3


@pytest.mark.parametrize("args, message", [
    ([], "nothing to sweep"),
    (["--grid", "betta=1,2"], "did you mean 'beta'"),
    (["--grid", "beta"], "write OPTION=V1,V2"),
    (["--grid", "beta=1", "--seeds", "x"], "seeds must be"),
    (["--resume", "nowhere", "--epochs", "3"], "--resume continues a sweep"),
    (["--resume", "nowhere"], "no sweep.json"),
    (["--grid", "beta=1", "--backend", "slurm"], "unknown sweep backend"),
    (["--grid", "beta=1", "--workers", "0", "--dataset", "digits"], "--workers must be"),
])
def test_cli_sweep_errors(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(monkeypatch, capsys, "sweep", *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "sweeps").exists()


def test_batched_backend_trains_a_beta_sweep_and_falls_back_for_the_rest(tmp_path,
                                                                         one_thread):
    spec = tiny_spec(grid={"beta": [0.5, 1.0]}, seeds=2,
                     points=[{"name": "iwae", "objective": "iwae"}])
    summary = run_sweep(spec, tmp_path / "b", backend="batched", progress=False)
    assert [g["n"] for g in summary["groups"]] == [2, 2, 2]
    for name in ("beta=0.5-seed0", "beta=1-seed1", "iwae-seed0"):
        info = json.loads((tmp_path / "b" / "runs" / name / "config.json").read_text())
        assert (info.get("backend") == "batched") == name.startswith("beta")
        assert sweep_state.read_status(tmp_path / "b", name)["status"] == "done"
    # The second run of a group is evaluated on the splits the first one prepared: the
    # same numbers as evaluating it on its own.
    from vaelab import load_run
    from vaelab.metrics import evaluate

    second = load_run(tmp_path / "b" / "runs" / "beta=1-seed1")
    alone = evaluate(second.model, second.data, ["elbo"], seed=0, split="test",
                     batch_size=second.config.train.eval_batch_size)
    assert alone["elbo"]["elbo"] == second.metrics["test"]["elbo"]


def test_the_sweep_directory_layout_has_one_home():
    """sweep/layout.py owns the sweep directory as rundir.py owns a run's: its file names,
    format version and verdicts are written nowhere else (the sweep, recipes and report
    import them), so a renamed file or a new format cannot leave a reader behind."""
    import re
    from pathlib import Path

    import vaelab
    from vaelab.sweep import layout

    facts = [f'"{name}"' for name in (layout.MANIFEST, layout.SUMMARY_JSON, layout.SUMMARY_CSV,
                                      layout.FINDINGS_JSON, layout.LOCK_FILE)]
    facts += ["SWEEP_FORMAT =", "VERDICTS =", '"agrees", "disagrees"']
    root = Path(vaelab.__file__).parent
    for path in sorted(root.rglob("*.py")):
        if path.name == "layout.py" and path.parent.name == "sweep":
            continue
        code = "\n".join(line for line in path.read_text().splitlines()
                         if not line.lstrip().startswith(("#", "SWEEP/", "vaelab", "write_")))
        code = re.sub(r'"""[\s\S]*?"""', "", code)  # docstrings may describe the layout
        for fact in facts:
            assert fact not in code, f"{path.relative_to(root)} spells out {fact}"
    assert layout.SWEEP_FORMAT == 1
    assert layout.VERDICTS == ("agrees", "disagrees", "inconclusive")
