"""Long work is never silent (issue 12, class 9): progress always goes to stderr, also with
--json and when stderr is not a terminal (pytest's capture is not one); there it comes as
plain periodic lines from the one mechanism in vaelab/progress.py."""

import io
import json

import pytest
from conftest import run_cli
from rich.console import Console

import vaelab
from vaelab import progress
from vaelab.progress import PlainProgress, new_progress, working

pytestmark = pytest.mark.usefixtures("one_thread")


def plain_console() -> tuple[Console, io.StringIO]:
    stream = io.StringIO()
    return Console(file=stream, force_terminal=False, width=200), stream


def test_not_a_terminal_gives_plain_lines_start_periodic_and_end(monkeypatch):
    console, stream = plain_console()
    bar = new_progress(enabled=True, console=console)
    assert isinstance(bar, PlainProgress)
    clock = iter(float(t) for t in range(100))
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    with bar:
        task = bar.add_task("IS-NLL k=5", total=10)   # t=0 created, t=1 first line
        for _ in range(10):                           # one tick per call: a line every 5 s
            bar.advance(task)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "IS-NLL k=5: 0/10 (0%), 1 s"
    assert lines[-1] == "IS-NLL k=5: 10/10 (100%), 11 s"
    assert lines[1] == "IS-NLL k=5: 5/10 (50%), 6 s, eta 6 s"
    assert len(lines) == 3  # start (t=1), 5 s later (t=6), the end (t=11); no more
    bar.advance(task)  # past the end: nothing more
    assert len(stream.getvalue().splitlines()) == 3


def test_a_terminal_keeps_the_rich_bar_and_disabled_is_silent():
    terminal = Console(file=io.StringIO(), force_terminal=True)
    assert not isinstance(new_progress(enabled=True, console=terminal), PlainProgress)
    console, stream = plain_console()
    with new_progress(enabled=False, console=console) as bar:
        bar.advance(bar.add_task("x", total=2), 2)
    assert stream.getvalue() == ""


def test_working_prints_while_it_waits(monkeypatch):
    monkeypatch.setattr(progress, "PLAIN_EVERY_S", 0.05)
    console, stream = plain_console()
    import time

    with working("t-SNE of 9 points", console=console):
        time.sleep(0.3)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "t-SNE of 9 points …" and lines[-1].startswith("t-SNE of 9 points: done")
    assert any("still working" in line for line in lines[1:-1])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return vaelab.train(out=tmp_path_factory.mktemp("progress") / "run", progress=False,
                        figures=False, dataset="digits", subset=200, hidden="16",
                        latent_dim=3, epochs=1).path


def test_eval_json_reports_progress_on_stderr(run, monkeypatch, capsys):
    # The original failure: `eval --json` switched progress off (10 silent minutes).
    code, out, err = run_cli(monkeypatch, capsys, "eval", run, "--metrics", "iw-nll",
                             "--iw-samples", 20, "--json")
    assert code == 0, err
    assert "iw_nll" in json.loads(out)["test"]  # stdout is still one JSON document
    assert "IS-NLL k=20: 0/" in err and "(100%)" in err


def test_plot_latent_tsne_is_not_silent(run, tmp_path, monkeypatch, capsys):
    code, out, err = run_cli(monkeypatch, capsys, "plot", run, "latent", "--method", "tsne",
                             "--out-dir", tmp_path)
    assert code == 0, err
    assert "tsne of 200 posterior means …" in err and "done in" in err


def test_training_piped_reports_progress(tmp_path, monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "train", "--dataset", "digits", "--subset",
                           100, "--hidden", 16, "--epochs", 2, "--out", tmp_path / "r")
    assert code == 0, err
    assert "train: 0/" in err and "(100%)" in err
    # The completing line names the last epoch (it is written once the epoch is done).
    done = [line for line in err.splitlines() if "(100%)" in line]
    assert len(done) == 1 and done[0].startswith("epoch 2/2 elbo "), done


def test_plain_counts_are_written_in_full():
    console, stream = plain_console()
    with new_progress(enabled=True, console=console) as bar:
        task = bar.add_task("IS-NLL k=5000", total=50_000_000)
        bar.update(task, completed=1_650_000)
        bar.update(task, completed=50_000_000, description="IS-NLL k=5000, done")
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("IS-NLL k=5000: 0/50,000,000 (0%)")
    assert lines[-1].startswith("IS-NLL k=5000, done: 50,000,000/50,000,000 (100%)")
