"""Read-only and full disks (issue 12, class 4): every command ends in one line naming
the path and the problem, exit code 2, no traceback and no temp file; numbers computed
before the refused write are still printed (on stdout with --json).

Read-only: a tmpfs remounted read-only when running as root (chmod does not stop root),
else a chmod 0555 folder. Full: a small tmpfs filled to the brim; it needs root and
`mount`, and is skipped otherwise (with the reason)."""

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import vaelab
from vaelab import rundir

TINY = dict(dataset="digits", hidden="32", latent_dim=4, batch_size=64, seed=1, epochs=1)
CLI = [sys.executable, "-c", "from vaelab.cli import main; main()"]


def cli(*args):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def refused(result, path, problem):
    """Exit 2 with one `error: cannot write PATH...: PROBLEM` line and no traceback."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(f"error: cannot write {path}"), result.stderr
    assert problem in lines[-1], lines[-1]
    return lines[-1]


def mount_tmpfs(folder: Path, size: str) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                           str(folder)], capture_output=True)
    return done.returncode == 0


def unmount(folder: Path) -> None:
    subprocess.run(["umount", "-l", str(folder)], capture_output=True)


@pytest.fixture
def readonly(tmp_path):
    """(folder, make_read_only): fill the folder, then call make_read_only()."""
    folder = tmp_path / f"ro-{uuid.uuid4().hex[:6]}"
    mounted = mount_tmpfs(folder, "64m")
    if not mounted:
        if os.geteuid() == 0:
            pytest.skip("running as root, where chmod cannot make a folder read-only, and "
                        "`mount -t tmpfs` is not allowed here")
        folder.mkdir(exist_ok=True)

    def make_read_only():
        if mounted:
            subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        else:
            for path in [folder, *folder.rglob("*")]:
                if path.is_dir():
                    path.chmod(0o555)
    yield folder, make_read_only
    if mounted:
        unmount(folder)
    else:
        for path in [folder, *folder.rglob("*")]:
            if path.is_dir():
                path.chmod(0o755)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    path = tmp_path_factory.mktemp("trained") / "run"
    vaelab.train(out=path, progress=False, figures=False, **TINY)
    return path


@pytest.mark.slow  # eight vaelab processes
def test_every_command_on_a_read_only_disk_is_one_line(readonly, trained, tmp_path):
    folder, make_read_only = readonly
    run = folder / "run"
    shutil.copytree(trained, run)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    make_read_only()

    flags = [f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()]
    refused(cli("train", *flags, "--out", folder / "new"), folder / "new", "")
    refused(cli("train", "--resume", run, "--epochs", "2"), run, "")
    refused(cli("sample", run, "-n", "4", "--out", folder / "s.png"), folder / "s.png", "")
    refused(cli("report", run, "--out", folder / "r.html"), folder / "r.html", "")
    refused(cli("plot", run, "curves"), run, "")
    refused(cli("sweep", "--grid", "beta=0,1", "--dataset", "digits", "--epochs", "1",
                "--out", folder / "sweep"), folder / "sweep", "")
    # eval computes, cannot save, and still prints what it computed.
    result = cli("eval", run, "--metrics", "elbo", "--json", "--quiet")
    line = refused(result, run / "metrics.json", "")
    assert "computed but not saved" in line
    printed = json.loads(result.stdout)["test"]
    assert printed["checkpoint"]["epoch"] == 1 and isinstance(printed["elbo"], float)
    table = cli("eval", run, "--metrics", "elbo", "--quiet")
    assert table.returncode == 2 and f"{printed['elbo']:.2f}" in table.stdout
    # Nothing changed, nothing left behind.
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before
    assert not list(folder.rglob("*.tmp"))


def fill(folder: Path, *, leave: int) -> None:
    """Fill the file system of ``folder`` until ``leave`` bytes are free (or it is full)."""
    fd = os.open(folder / "filler", os.O_CREAT | os.O_WRONLY | os.O_APPEND)
    try:
        while (free := os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize) > leave:
            os.write(fd, b"\0" * min(1 << 16, free - leave))
    except OSError:
        pass  # full
    finally:
        os.close(fd)


@pytest.mark.slow  # two vaelab processes
def test_a_full_disk_is_one_line_and_keeps_the_numbers(tmp_path, trained):
    folder = tmp_path / "full"
    if not mount_tmpfs(folder, "4m"):
        pytest.skip("a full disk is simulated with a small tmpfs, which needs root and "
                    "`mount -t tmpfs`")
    try:
        run = folder / "run"
        shutil.copytree(trained, run)
        (run / "metrics.json").unlink()
        fill(folder, leave=0)
        result = cli("eval", run, "--metrics", "elbo", "--json", "--quiet")
        line = refused(result, run / "metrics.json", "No space left on device")
        assert "computed but not saved" in line and json.loads(result.stdout)["test"]["elbo"]

        # Room for config.json but not for the checkpoint: safetensors' own error.
        (folder / "filler").unlink()
        fill(folder, leave=24 * 1024)
        flags = [f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()]
        result = cli("train", *flags, "--out", folder / "new", "--quiet")
        refused(result, folder / "new", "No space left on device")
        assert not list(folder.rglob("*.tmp"))
    finally:
        unmount(folder)


def test_a_refused_write_keeps_the_old_file_and_names_the_path(tmp_path, monkeypatch):
    target = tmp_path / "model.safetensors"
    rundir.write_text(target, "old")

    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(rundir.os, "replace", no_space)
    with pytest.raises(rundir.WriteError, match=f"cannot write {target}: No space left on "
                       "device; free space on that disk"):
        rundir.write_text(target, "new")
    assert target.read_text() == "old" and not list(tmp_path.glob(".*.tmp"))


# Further cases found by fault injection: writes outside the run directory. A file where
# a folder must go is unwritable for root too, so these run everywhere.
def test_an_unwritable_classifier_cache_is_one_line(tmp_path, monkeypatch):
    from vaelab.classifier import CACHE_ENV, load_or_train_classifier

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv(CACHE_ENV, str(blocker))
    with pytest.raises(rundir.WriteError, match=f"cannot write {blocker}/classifiers: Not a "
                       "directory"):
        load_or_train_classifier("digits")


def test_a_sweep_in_an_unwritable_place_is_one_line(tmp_path):
    from vaelab.sweep import state

    blocker = tmp_path / "sweeps"
    blocker.write_text("")
    with pytest.raises(rundir.WriteError, match=f"cannot write {blocker}/s"):
        with state.sweep_lock(blocker / "s"):
            pass
