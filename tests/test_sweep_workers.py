"""The local sweep backend on a real machine (issue 18): a worker process that dies fails
its run only, with the cause, and the sweep resumes it; the default number of workers
follows the memory as well as the cores."""

import json
import os
import signal
import threading
import time

import pytest

from vaelab import rundir
from vaelab.sweep import SweepRunsFailed, run_sweep, spec_from_dict
from vaelab.sweep import state as sweep_state
from vaelab.sweep.sizing import PARAMETER_COPIES, PROCESS_BYTES, local_workers
from vaelab.sweep.worker import worker_died

GIB = 2**30


# -- workers sized to the machine --------------------------------------------------------
def test_local_workers_known_answers():
    # Memory is plentiful: the cores decide, and nothing is said.
    assert local_workers(cores=8, available=64 * GIB, per_run=GIB, runs=20) == (8, None)
    # ... and never more workers than runs.
    assert local_workers(cores=8, available=64 * GIB, per_run=GIB, runs=3) == (3, None)
    # 24 GiB holds 2 runs of 10 GiB: 2 workers, not 4, and one line says why.
    workers, note = local_workers(cores=4, available=24 * GIB, per_run=10 * GIB, runs=7)
    assert workers == 2
    assert note.startswith("2 local workers, not 4: each run needs about 10.0 GiB")
    assert "24.0 GiB is available" in note and "--workers N" in note
    # Not even one run fits: one worker all the same (it may still fit once others end).
    workers, note = local_workers(cores=2, available=GIB, per_run=3 * GIB, runs=7)
    assert workers == 1 and note.startswith("1 local worker, not 2")
    # Memory allows exactly the cores: no note.
    assert local_workers(cores=2, available=2 * GIB, per_run=GIB, runs=7) == (2, None)


def test_run_peak_estimate_adds_process_data_parameters_and_the_eval_chunk():
    from vaelab.config import Config
    from vaelab.metrics.base import decoded_row_bytes
    from vaelab.metrics.iw_nll import CHUNK_ROWS
    from vaelab.model import VAE
    from vaelab.sweep.sizing import run_peak_bytes

    config = Config().replace(latent_dim=4, hidden=[32], likelihood="gaussian")
    model = VAE(config, (28, 28))
    parameters = sum(p.numel() for p in model.parameters())
    expected = (PROCESS_BYTES + 1000 + PARAMETER_COPIES * 4 * parameters
                + CHUNK_ROWS * decoded_row_bytes(model))
    assert run_peak_bytes(config, (28, 28), 1000) == expected


def test_the_sweep_says_when_memory_allows_fewer_workers(tmp_path, monkeypatch, capsys):
    """The note of ``local_workers`` reaches the user, and the backend gets that count."""
    from vaelab.sweep import backends, runner

    monkeypatch.setattr("vaelab.memory.host_available_bytes", lambda: 1)
    monkeypatch.setattr("vaelab.sweep.worker.cpu_count", lambda: 4)
    seen = {}

    def fake_local(tasks, options, done):
        seen["workers"], seen["isolate"] = options.workers, options.isolate
        for task in tasks:
            done({"run": task["run"], "status": "skipped"})

    monkeypatch.setitem(backends.BACKENDS._entries, "local", fake_local)
    spec = spec_from_dict({"base": {"data": {"dataset": "digits", "subset": 300},
                                    "network": {"hidden": [32], "latent_dim": 4}},
                           "grid": {"beta": [1.0, 2.0, 3.0]}, "figures": False,
                           "metrics": ["elbo"]}, where="test")
    runner.run_sweep(spec, tmp_path / "s", progress=True)
    assert seen == {"workers": 1, "isolate": True}
    assert "1 local worker, not 3: each run needs about" in capsys.readouterr().err


# -- a dead worker is a failed run -------------------------------------------------------
def test_a_killed_worker_is_recorded_with_its_signal(tmp_path):
    task = {"sweep_dir": str(tmp_path), "run": "a"}
    result = worker_died(task, -signal.SIGKILL)
    assert result["status"] == "failed" and result["signal"] == "SIGKILL"
    assert "killed by SIGKILL (likely out of memory" in result["error"]
    assert sweep_state.read_status(tmp_path, "a")["error"] == result["error"]
    segfault = worker_died({"sweep_dir": str(tmp_path), "run": "b"}, -signal.SIGSEGV)
    assert "killed by SIGSEGV;" in segfault["error"] and "memory" not in segfault["error"]
    assert "exited with code 3" in worker_died({"sweep_dir": str(tmp_path), "run": "c"},
                                               3)["error"]


def _kill_when_trained(sweep_dir, run, epochs, killed):
    """Kill the worker that claimed ``run`` once it has ``epochs`` complete epochs."""
    history = sweep_dir / "runs" / run / "history.csv"
    claim = sweep_dir / "state" / f"{run}.claim"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if history.exists() and claim.exists() and len(rundir.read_history(history)) >= epochs:
            pid = json.loads(claim.read_text())["pid"]
            os.kill(pid, signal.SIGKILL)
            killed["pid"] = pid
            return
        time.sleep(0.01)


@pytest.mark.slow
def test_a_worker_killed_mid_run_fails_that_run_only_and_resume_continues_it(tmp_path):
    out = tmp_path / "s"
    # Two runs in two worker processes: epochs=8 is killed after 2 epochs; epochs=1 ends.
    spec = spec_from_dict({"base": {"data": {"dataset": "digits", "subset": 1000},
                                    "network": {"hidden": [32], "latent_dim": 4},
                                    "train": {"batch_size": 8}},
                           "grid": {"epochs": [8, 1]}, "figures": False,
                           "metrics": ["elbo"]}, where="test")
    killed = {}
    killer = threading.Thread(target=_kill_when_trained,
                              args=(out, "epochs=8-seed0", 2, killed))
    killer.start()
    with pytest.raises(SweepRunsFailed, match=r"1 of 2 sweep runs failed \(first: "
                       r"epochs=8-seed0: its worker process was killed by SIGKILL \(likely "
                       r"out of memory"):
        run_sweep(spec, out, workers=2, progress=False)
    killer.join()
    assert killed, "the worker was never seen mid-run"
    failed = sweep_state.read_status(out, "epochs=8-seed0")
    assert failed["status"] == "failed" and failed["signal"] == "SIGKILL"
    assert sweep_state.read_status(out, "epochs=1-seed0")["status"] == "done"
    summary = json.loads((out / "summary.json").read_text())
    groups = {g["group"]: g for g in summary["groups"]}
    assert groups["epochs=1"]["n"] == 1 and groups["epochs=8"]["n"] == 0
    assert groups["epochs=8"]["failed"][0]["run"] == "epochs=8-seed0"
    history = out / "runs" / "epochs=8-seed0" / "history.csv"
    before = rundir.read_history(history)
    assert 2 <= len(before) < 8
    # Resumed: the killed run continues from its last complete epoch, the other is kept.
    run_sweep(spec, out, progress=False)
    assert sweep_state.read_status(out, "epochs=8-seed0")["status"] == "done"
    after = rundir.read_history(history)
    assert len(after) == 8
    for old, new in zip(before, after, strict=False):  # the epochs before the kill stay
        assert (old["epoch"], old["step"]) == (new["epoch"], new["step"])
        assert old["train_loss"] == pytest.approx(new["train_loss"], rel=1e-6)
    info = json.loads((out / "runs" / "epochs=8-seed0" / "config.json").read_text())
    assert "resumed" in info


def test_a_recipe_with_a_failed_run_still_writes_findings_and_report(tmp_path, monkeypatch,
                                                                      one_thread):
    from vaelab.errors import VaelabError
    from vaelab.recipes import base, rules
    from vaelab.sweep import worker

    real = worker.train_and_evaluate

    def flaky(task, run_path):
        if task["run"].startswith("beta=2"):
            raise VaelabError("injected failure")
        real(task, run_path)

    monkeypatch.setattr(worker, "train_and_evaluate", flaky)
    spec = spec_from_dict({"base": {"data": {"dataset": "digits", "subset": 300},
                                    "network": {"hidden": [32], "latent_dim": 4}},
                           "grid": {"beta": [1.0, 2.0]}, "figures": False,
                           "metrics": ["elbo"]}, where="test")
    recipe = base.Recipe(name="tiny", title="tiny", question="does it fail well?",
                         source="test", build=lambda quick: spec,
                         findings=lambda results: [base.judged(rules.exact(
                             None if results.missing else True, "every point ran", {}),
                             "claim", "test", "found")])
    monkeypatch.setitem(base.RECIPES._entries, "tiny", recipe)
    with pytest.raises(VaelabError, match=r"^recipe tiny: 1 of 2 sweep runs failed .*"
                                          r"injected failure.*the report shows the failed"):
        base.run_recipe("tiny", tmp_path / "r", workers=1, progress=False)
    findings = json.loads((tmp_path / "r" / "findings.json").read_text())
    assert findings["findings"][0]["verdict"] == "inconclusive"  # a point is missing
    report = (tmp_path / "r" / "report.html").read_text()
    assert "failed" in report and "injected failure" in report


def test_cli_sweep_with_a_failed_run_shows_the_table_then_one_line(tmp_path, monkeypatch,
                                                                   capsys, one_thread):
    from conftest import run_cli

    from vaelab.errors import VaelabError
    from vaelab.sweep import worker

    real = worker.train_and_evaluate

    def flaky(task, run_path):
        if task["run"].startswith("beta=2"):
            raise VaelabError("injected failure")
        real(task, run_path)

    monkeypatch.setattr(worker, "train_and_evaluate", flaky)
    code, out, err = run_cli(monkeypatch, capsys, "sweep", "--grid", "beta=1,2", "--dataset",
                             "digits", "--subset", "300", "--hidden", "32", "--latent-dim",
                             "4", "--epochs", "1", "--no-figures", "--metrics", "elbo",
                             "--workers", "1", "--quiet", "--out", tmp_path / "s")
    assert code == 2
    assert "sweep summary" in out and "failed: beta=2-seed0: injected failure" in out
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "1 of 2 sweep runs failed" in errors[0]
