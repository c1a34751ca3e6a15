"""Nothing mixed, nothing lost (issue 12, classes 1-3 and 10): one writer per run
directory, metrics keyed by the checkpoint they came from, config.json checked against
the checkpoint's own config, and the small inconsistencies of piped tables, history
columns, file modes and a failed first epoch. Read-only and full disks: test_disk_faults.py.
"""

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

import vaelab
from vaelab import rundir, runlock
from vaelab.errors import VaelabError

TINY = dict(dataset="digits", hidden="32", latent_dim=4, batch_size=64, seed=1)
CLI = [sys.executable, "-c", "from vaelab.cli import main; main()"]


def train_tiny(path, **overrides):
    return vaelab.train(out=path, progress=False, figures=False, **{**TINY, "epochs": 2,
                                                                    **overrides})


def cli(*args, **kwargs):
    """`vaelab ARGS` as its own process, stdout and stderr piped (not a terminal)."""
    env = {key: value for key, value in os.environ.items() if key != "COLUMNS"}
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True,
                          timeout=120, env=env, **kwargs)


def one_error_line(result):
    """The last stderr line is the one `error: ...` line, and there is no traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("error: "), result.stderr
    return lines[-1]


# -- 1. one writer per run directory ------------------------------------------------
def start_long_training(out):
    args = [f"--{key.replace('_', '-')}={value}" for key, value in TINY.items()]
    process = subprocess.Popen([*CLI, "train", *args, "--epochs=100000", "--quiet",
                                "--out", str(out)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    # Wait until it holds the lock and has finished an epoch (it is really training).
    while not (out / rundir.MODEL_FILE).exists():
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, "training did not start"
        time.sleep(0.1)
    return process


@pytest.mark.slow  # six vaelab processes
def test_a_second_writer_is_refused_and_a_dead_holder_is_taken_over(tmp_path):
    out = tmp_path / "run"
    first = start_long_training(out)
    try:
        config_before = (out / rundir.CONFIG_FILE).read_text()
        for command in (["train", "--dataset", "digits", "--epochs", "1", "--seed", "5",
                         "--out", out, "--force"],
                        ["train", "--resume", out],
                        ["eval", out, "--metrics", "elbo"],
                        ["plot", out, "curves"]):
            second = cli(*command)
            assert second.returncode == 2, (command, second.stderr)
            line = one_error_line(second)
            assert f"is being written by pid {first.pid} on host " in line, line
            assert "vaelab" in line and "train" in line and " since " in line, line
        # Nothing of the second writers reached the run.
        assert (out / rundir.CONFIG_FILE).read_text() == config_before
        assert not (out / rundir.METRICS_FILE).exists()
    finally:
        first.kill()
        first.wait()
    # The kernel released the dead holder's lock: the next writer takes over cleanly.
    taken = cli("train", "--dataset", "digits", "--hidden", "32", "--latent-dim", "4",
                "--epochs", "1", "--seed", "5", "--out", out, "--force", "--quiet")
    assert taken.returncode == 0, taken.stderr
    assert json.loads((out / rundir.CONFIG_FILE).read_text())["seed"] == 5
    holder = json.loads((out / runlock.LOCK_FILE).read_text())
    assert holder["pid"] != first.pid and "--seed 5" in holder["command"]


HOLD = """
import sys, time
from pathlib import Path
from vaelab.runlock import writer_lock
with writer_lock(Path(sys.argv[1]), ["holder", "command"]):
    print("held", flush=True)
    time.sleep(60)
"""


def test_the_lock_names_its_holder_and_is_reentrant_in_one_process(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "run")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(runlock.RunBusy, match=f"pid {holder.pid} .*holder command"):
            with runlock.writer_lock(tmp_path / "run"):
                pass
        with pytest.raises(VaelabError, match="is being written by"):
            train_tiny(tmp_path / "run", force=True)
    finally:
        holder.kill()
        holder.wait()
    with runlock.writer_lock(tmp_path / "run"):
        with runlock.writer_lock(tmp_path / "run"):  # api.train inside a sweep worker
            assert runlock.is_held_here(tmp_path / "run")
        assert runlock.is_held_here(tmp_path / "run")
    assert not runlock.is_held_here(tmp_path / "run")


def test_the_batched_backend_and_sweep_workers_hold_each_run(tmp_path, monkeypatch):
    from vaelab.batched import train_batched
    from vaelab.config import Config
    from vaelab.sweep import worker

    held = []
    real = vaelab.trainer.save_epoch

    def spy(model, config, state, run_path, *args):
        held.append(runlock.is_held_here(run_path))
        return real(model, config, state, run_path, *args)

    monkeypatch.setattr(vaelab.trainer, "save_epoch", spy)
    configs = [Config().replace(**{**TINY, "epochs": 1, "seed": seed}) for seed in (1, 2)]
    train_batched(configs, [tmp_path / "a", tmp_path / "b"], progress=False, figures=False)
    task = worker.make_task(tmp_path / "sweep", "r0", configs[0].to_dict(),
                            {"metrics": ["elbo"], "iw_samples": 2, "fid_samples": 2,
                             "figures": False}, ["vaelab", "sweep"])
    assert worker.run_point(task)["status"] == "done"
    assert held == [True, True, True]


# -- 2. metrics keyed by checkpoint -------------------------------------------------
def test_every_stored_number_names_its_checkpoint_and_older_ones_are_never_current(
        tmp_path, monkeypatch, capsys):
    from conftest import run_cli

    from vaelab.cli.evaluate import _run_row
    from vaelab.report.reader import read_run
    from vaelab.sweep.aggregate import run_numbers

    run = train_tiny(tmp_path / "run")
    code, out, err = run_cli(monkeypatch, capsys, "eval", run.path, "--metrics",
                             "elbo,collapse", "--json", "--quiet")
    assert code == 0, err
    test = json.loads((run.path / rundir.METRICS_FILE).read_text())["test"]
    stamp = test["checkpoint"]
    meta = rundir.load_checkpoint_metadata(run.path / rundir.MODEL_FILE)
    assert stamp == {"name": "last", "epoch": 2, "step": meta["step"],
                     "sha256": rundir.file_sha256(run.path / rundir.MODEL_FILE)}
    assert test["collapse"]["checkpoint"] == stamp  # every metric's dict is stamped
    assert run_numbers(run.path)[0]["test.elbo"] == test["elbo"]

    # Training goes on (epoch 3): the epoch-2 collapse numbers are dropped, not mixed with
    # the new test ELBO.
    vaelab.train(resume=run.path, epochs=3, progress=False, figures=False)
    test = json.loads((run.path / rundir.METRICS_FILE).read_text())["test"]
    assert test["checkpoint"]["epoch"] == 3 and "collapse" not in test

    # A checkpoint replaced without new numbers (a writer killed between the two): every
    # reader hides the old numbers: the API, compare, the sweep summary and the report.
    other = train_tiny(tmp_path / "other", seed=9)
    shutil.copy(other.path / rundir.MODEL_FILE, run.path / rundir.MODEL_FILE)
    assert vaelab.load_run(run.path).metrics == {}
    assert _run_row(run.path, "test")["metrics"] == {}
    assert "replaced since" in capsys.readouterr().err
    assert run_numbers(run.path)[0] == {"train.seconds": pytest.approx(
        sum(r["epoch_seconds"] for r in run.history))}
    report = read_run(run.path)
    assert "test" not in report.metrics
    assert any("epoch 3, which has been replaced" in note for note in report.notes)


def test_store_section_merges_one_checkpoint_and_replaces_another(tmp_path):
    a = {"name": "last", "epoch": 1, "step": 5, "sha256": "a"}
    b = {**a, "epoch": 2, "sha256": "b"}
    rundir.store_section(tmp_path, "test", {"elbo": -90.0}, a)
    rundir.store_section(tmp_path, "test", {"probe": {"accuracy": 0.5}}, a)
    assert set(rundir.read_json(tmp_path / "metrics.json")["test"]) == {
        "elbo", "probe", "checkpoint"}
    rundir.store_section(tmp_path, "test", {"elbo": -80.0}, b)
    assert rundir.read_json(tmp_path / "metrics.json")["test"] == {"elbo": -80.0,
                                                                   "checkpoint": b}


# -- 3. config.json disagreeing with the checkpoint ---------------------------------
def test_an_edited_config_json_is_reported_by_every_reader(tmp_path, monkeypatch, capsys):
    from conftest import run_cli

    run = train_tiny(tmp_path / "run")
    info = json.loads((run.path / rundir.CONFIG_FILE).read_text())
    info["config"]["network"]["latent_dim"] = 7
    (run.path / rundir.CONFIG_FILE).write_text(json.dumps(info))
    expected = "network.latent_dim=7 (checkpoint: 4); the checkpoint's config is used"
    for command in (["eval", run.path, "--metrics", "elbo", "--quiet"],
                    ["sample", run.path, "-n", "4", "--out", tmp_path / "s.png"],
                    ["plot", run.path, "curves"],
                    ["compare", run.path, "--json"],
                    ["report", run.path, "--out", tmp_path / "r.html"]):
        code, out, err = run_cli(monkeypatch, capsys, *command)
        assert code == 0, (command, err)
        warnings = [line for line in err.splitlines() if "disagrees with" in line]
        assert len(warnings) == 1 and expected in warnings[0], (command, err)
        if command[0] == "compare":  # it describes the model the checkpoint holds
            assert "z = 4," in json.loads(out)["runs"][0]["model"]
    # --resume would train the weights under another config: an error, nothing written.
    code, _, err = run_cli(monkeypatch, capsys, "train", "--resume", run.path, "--epochs", "3")
    assert code == 2 and "network.latent_dim=7 (checkpoint: 4)" in err
    assert "--resume will not guess" in err and len(rundir.read_history(
        run.path / rundir.HISTORY_FILE)) == 2


# -- 10. small inconsistencies --------------------------------------------------------
@pytest.mark.slow  # two vaelab processes
def test_piped_tables_never_cut_a_number(tmp_path):
    run = train_tiny(tmp_path / "a-run-directory-with-a-rather-long-name-for-the-table")
    result = cli("eval", run.path, "--metrics", "elbo,collapse,probe", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "…" not in result.stdout, result.stdout
    elbo = json.loads((run.path / rundir.METRICS_FILE).read_text())["test"]["elbo"]
    assert f"{elbo:.2f}" in result.stdout
    compare = cli("compare", run.path, run.path)
    assert compare.returncode == 0 and "…" not in compare.stdout, compare.stdout


def test_the_pipe_console_is_wide_and_a_terminal_keeps_its_width(monkeypatch):
    from rich.table import Table

    from vaelab.cli.common import PIPE_WIDTH, terminal_console

    monkeypatch.delenv("COLUMNS", raising=False)
    table = Table()
    for index in range(12):
        table.add_column(f"column {index}")
    table.add_row(*[f"-48.{index:04d}" for index in range(12)])
    console = terminal_console()
    assert not console.is_terminal and console.width == PIPE_WIDTH
    with console.capture() as captured:
        console.print(table)
    assert "…" not in captured.get() and "-48.0011" in captured.get()


def test_history_integers_stay_integers_after_resume(tmp_path):
    train_tiny(tmp_path / "run", epochs=1)
    vaelab.train(resume=tmp_path / "run", epochs=2, progress=False, figures=False)
    lines = (tmp_path / "run" / rundir.HISTORY_FILE).read_text().splitlines()
    header = lines[0].split(",")
    for line in lines[1:]:
        row = dict(zip(header, line.split(","), strict=True))
        for column in ("epoch", "step", "skipped_steps"):
            assert row[column].isdigit(), (column, row[column])
    assert [row["epoch"] for row in rundir.read_history(tmp_path / "run" / "history.csv")
            ] == [1, 2]


def test_checkpoints_follow_the_umask_like_every_other_file(tmp_path):
    old = os.umask(0o022)
    try:
        train_tiny(tmp_path / "run", epochs=1)
    finally:
        os.umask(old)
    modes = {path.name: path.stat().st_mode & 0o777
             for path in (tmp_path / "run").iterdir() if path.is_file()}
    assert modes[rundir.MODEL_FILE] == modes[rundir.CONFIG_FILE] == 0o644, modes
    assert set(modes.values()) == {0o644}, modes


def test_a_failed_first_epoch_tells_the_rerun_to_use_force(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("disk trouble in epoch 1")

    with monkeypatch.context() as patch:
        patch.setattr(vaelab.trainer, "save_epoch", fail)
        with pytest.raises(RuntimeError):
            train_tiny(tmp_path / "run")
    with pytest.raises(VaelabError, match="never completed an epoch; pass --force"):
        train_tiny(tmp_path / "run")
    assert train_tiny(tmp_path / "run", force=True).history[-1]["epoch"] == 2
