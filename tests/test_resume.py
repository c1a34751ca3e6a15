"""--resume continues a run bit for bit, also after the process was killed with SIGKILL."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

import vaelab
from vaelab import rundir
from vaelab.errors import VaelabError

TINY = dict(dataset="digits", hidden="32", latent_dim=4, batch_size=64, binarize="dynamic",
            seed=7)


def weights(path):
    return rundir.load_checkpoint(path / "model.safetensors")[0]


def history_without_times(path):
    return [{k: v for k, v in row.items() if k != "epoch_seconds"}
            for row in rundir.read_history(path / "history.csv")]


def assert_same_run(a, b):
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for name in wa:
        assert torch.equal(wa[name], wb[name]), name
    assert history_without_times(a) == history_without_times(b)


def test_resume_after_stopping_equals_an_uninterrupted_run(tmp_path):
    vaelab.train(out=tmp_path / "whole", epochs=4, progress=False, figures=False, **TINY)
    vaelab.train(out=tmp_path / "split", epochs=2, progress=False, figures=False, **TINY)
    resumed = vaelab.train(resume=tmp_path / "split", epochs=4, progress=False, figures=False)
    assert_same_run(tmp_path / "whole", tmp_path / "split")
    info = json.loads((resumed.path / "config.json").read_text())
    assert info["config"]["train"]["epochs"] == 4 and len(info["resumed"]) == 1


def train_command(out, epochs, options=TINY):
    options = {**options, "epochs": epochs}
    args = [f"--{key.replace('_', '-')}={value}" for key, value in options.items()]
    return [sys.executable, "-c", "from vaelab.cli import main; main()", "train", *args,
            "--quiet", "--out", str(out)]


# Kill the training process (SIGKILL) by itself at the moment it is about to rename the
# Nth finished temp file of FILE into place: the file is complete on disk under its temp
# name, the old one is still in place. The kill happens inside an atomic write.
KILL_DURING_WRITE = """
import os, signal, sys
target, nth = sys.argv.pop(1), int(sys.argv.pop(1))
real_replace, seen = os.replace, [0]
def replace(src, dst):
    if os.path.basename(str(dst)) == target:
        seen[0] += 1
        if seen[0] == nth:
            os.kill(os.getpid(), signal.SIGKILL)
    return real_replace(src, dst)
os.replace = replace
from vaelab.cli import main
main()
"""


def _kill_during_write(tmp_path, env, target: str, nth: int) -> None:
    command = train_command(tmp_path / "killed", 6)
    command[1:3] = ["-c", KILL_DURING_WRITE, target, str(nth)]
    result = subprocess.run(command, env=env, capture_output=True)
    assert result.returncode == -signal.SIGKILL


def _kill_after_rows(tmp_path, env, rows: int, options=TINY) -> None:
    process = subprocess.Popen(train_command(tmp_path / "killed", 6, options), env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    history = tmp_path / "killed" / "history.csv"
    # history.csv of an epoch is written just before its resume.safetensors: until the
    # first resume file exists there is nothing to resume (the run never completed an
    # epoch), so the kill after row 1 waits for it too.
    resume = tmp_path / "killed" / "resume.safetensors"
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if (history.exists() and len(history.read_text().splitlines()) > rows
                and resume.exists()):
            break
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()


@pytest.mark.slow
@pytest.mark.parametrize("how", [
    ("after epoch rows", 1), ("after epoch rows", 3),
    ("writing", "model.safetensors", 2),   # epoch 2's weights complete, not yet renamed
    ("writing", "resume.safetensors", 3),  # weights+history of epoch 3 saved, resume not
    ("writing", "history.csv", 4),
])
def test_resume_after_sigkill_is_bit_for_bit(tmp_path, how):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(train_command(tmp_path / "whole", 6), check=True, env=env,
                   capture_output=True)
    if how[0] == "writing":
        _kill_during_write(tmp_path, env, how[1], how[2])
    else:
        _kill_after_rows(tmp_path, env, how[1])
    resume = [sys.executable, "-c", "from vaelab.cli import main; main()", "train",
              "--resume", str(tmp_path / "killed"), "--quiet"]
    subprocess.run(resume, check=True, env=env, capture_output=True)
    assert_same_run(tmp_path / "whole", tmp_path / "killed")
    # No temporary file of an interrupted write is left behind.
    assert not [p for p in (tmp_path / "killed").iterdir() if p.name.endswith(".tmp")]


# An objective with an auxiliary network and optimiser of its own (Kim & Mnih 2018).
FACTORVAE = {**TINY, "objective": "factorvae", "discriminator_hidden": "16,16", "gamma": 5.0}


def test_factorvae_resume_after_stopping_equals_an_uninterrupted_run(tmp_path):
    vaelab.train(out=tmp_path / "whole", epochs=3, progress=False, figures=False, **FACTORVAE)
    vaelab.train(out=tmp_path / "split", epochs=1, progress=False, figures=False, **FACTORVAE)
    vaelab.train(resume=tmp_path / "split", epochs=3, progress=False, figures=False)
    # model.safetensors holds the discriminator too: it is compared tensor by tensor.
    assert any(name.startswith("auxiliary.") for name in weights(tmp_path / "whole"))
    assert_same_run(tmp_path / "whole", tmp_path / "split")
    whole, _ = rundir.load_checkpoint(tmp_path / "whole" / "resume.safetensors")
    split, _ = rundir.load_checkpoint(tmp_path / "split" / "resume.safetensors")
    for name in [n for n in whole if n.startswith("auxiliary.")]:
        assert torch.equal(whole[name], split[name]), name


@pytest.mark.slow
def test_factorvae_resume_after_sigkill_is_bit_for_bit(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(train_command(tmp_path / "whole", 6, FACTORVAE), check=True, env=env,
                   capture_output=True)
    _kill_after_rows(tmp_path, env, 2, FACTORVAE)
    resume = [sys.executable, "-c", "from vaelab.cli import main; main()", "train",
              "--resume", str(tmp_path / "killed"), "--quiet"]
    subprocess.run(resume, check=True, env=env, capture_output=True)
    assert_same_run(tmp_path / "whole", tmp_path / "killed")


def test_resume_refuses_other_options_and_missing_state(tmp_path):
    with pytest.raises(VaelabError, match="no such run directory"):
        vaelab.train(resume=tmp_path / "nothing", progress=False)
    run = vaelab.train(out=tmp_path / "run", epochs=1, progress=False, figures=False, **TINY)
    with pytest.raises(VaelabError, match="only --epochs may change"):
        vaelab.train(resume=run.path, lr=0.1, progress=False)
    run = vaelab.train(resume=run.path, epochs=2, progress=False, figures=False)
    saved = {name: (run.path / name).read_bytes() for name in ("config.json", "history.csv",
                                                              "model.safetensors")}
    with pytest.raises(VaelabError, match="--epochs 1 is below the 2 epochs .* already "
                                          "trained; .*--epochs 2 or more"):
        vaelab.train(resume=run.path, epochs=1, progress=False)
    assert saved == {name: (run.path / name).read_bytes() for name in saved}
    (run.path / "resume.safetensors").unlink()
    with pytest.raises(VaelabError, match="has no resume.safetensors"):
        vaelab.train(resume=run.path, epochs=2, progress=False)


def test_resume_removes_temp_files_of_an_interrupted_write(tmp_path):
    run = vaelab.train(out=tmp_path / "run", epochs=1, progress=False, figures=False, **TINY)
    stale = run.path / ".model.safetensors.abc123.tmp"
    stale.write_bytes(b"half a checkpoint")
    vaelab.train(resume=run.path, epochs=2, progress=False, figures=False)
    assert not stale.exists()
    assert len(rundir.read_history(run.path / "history.csv")) == 2
