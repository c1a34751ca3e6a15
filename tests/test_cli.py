"""The command line as a user drives it: a smoke run on a real-MNIST subset and the error
paths (one line on stderr, exit code 2, nothing written)."""

import json

import pytest
from conftest import requires_mnist, run_cli


@requires_mnist
def test_train_eval_sample_reconstruct_on_an_mnist_subset(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    code, stdout, err = run_cli(monkeypatch, capsys, "train", "--dataset", "mnist", "--subset",
                                512, "--epochs", 1, "--out", out, "--quiet")
    assert code == 0, err
    assert f"run directory: {out}" in stdout
    info = json.loads((out / "config.json").read_text())
    assert info["command"][:3] == ["vaelab", "train", "--dataset"]
    assert info["data"]["n_train"] == 512

    code, stdout, err = run_cli(monkeypatch, capsys, "eval", out, "--json")
    assert code == 0, err
    metrics = json.loads(stdout)["test"]
    assert metrics["images"] == 512 and metrics["elbo"] < 0

    code, stdout, err = run_cli(monkeypatch, capsys, "eval", out, "--checkpoint", "best")
    assert code == 0, err
    assert "test_best" in json.loads((out / "metrics.json").read_text())  # merged, kept
    assert "test" in json.loads((out / "metrics.json").read_text())

    code, stdout, err = run_cli(monkeypatch, capsys, "sample", out, "-n", 16, "--out",
                                tmp_path / "s.png")
    assert code == 0, err
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, _, err = run_cli(monkeypatch, capsys, "sample", out, "--from", "laplace", "--out",
                           tmp_path / "laplace.png")
    assert code == 0, err
    assert (tmp_path / "laplace.png").read_bytes() != (tmp_path / "s.png").read_bytes()
    code, _, err = run_cli(monkeypatch, capsys, "sample", out, "--from", "cauchy", "--out",
                           tmp_path / "c.png")
    assert code == 2 and "--from 'cauchy' is not a prior" in err
    code, stdout, err = run_cli(monkeypatch, capsys, "reconstruct", out, "--out",
                                tmp_path / "r.png")
    assert code == 0, err
    assert (tmp_path / "r.png").stat().st_size > 1000


def test_help_lists_every_config_option(monkeypatch, capsys):
    from vaelab.config import FIELDS

    code, stdout, _ = run_cli(monkeypatch, capsys, "train", "--help")
    assert code == 0
    for spec in FIELDS:
        assert f"--{spec.cli}" in stdout


@pytest.mark.parametrize("args, fragment", [
    (["train", "--beta", "-1"], "--beta (objective.beta) must be >= 0"),
    (["train", "--latent-dim", "0"], "--latent-dim"),
    (["train", "--hidden", "512,0"], "hidden size"),
    (["train", "--lr", "0"], "--lr"),
    (["train", "--likelihood", "gausian"], "did you mean 'gaussian'"),
    (["train", "--epochs", "many"], "expects an integer"),
    (["train", "--dataset", "digits", "--subset", "99999", "--epochs", "1"], "larger than"),
    (["eval", "no/such/run"], "does not exist"),
    (["sample", "no/such/run", "--out", "x.png"], "does not exist"),
    # click's own usage errors, one line too, with the command whose --help to read
    (["eval", "no/such/run", "--split", "train"], "(see vaelab eval --help)"),
    (["sample", "no/such/run", "-n", "0"], "'-n': 0 is not in the range"),
    (["train", "--latnet-dim", "3"], "No such option '--latnet-dim'"),
    (["evl"], "No such command 'evl'. Did you mean 'eval'?"),
])
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, monkeypatch, capsys, args, fragment):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert code == 2
    assert fragment in err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert not (tmp_path / "runs").exists()  # nothing written


def test_bad_config_file(tmp_path, monkeypatch, capsys):
    config = tmp_path / "c.toml"
    config.write_text("[network]\nlatent = 3\n")
    code, _, err = run_cli(monkeypatch, capsys, "train", "--config", config)
    assert code == 2 and "unknown config key network.latent" in err


def test_sample_refuses_a_non_png_path(tmp_path, monkeypatch, capsys):
    import vaelab

    run = vaelab.train(out=tmp_path / "run", progress=False, figures=False, dataset="digits",
                       epochs=1, hidden="16", latent_dim=2)
    code, _, err = run_cli(monkeypatch, capsys, "sample", run.path, "--out",
                           tmp_path / "s.jpg")
    assert code == 2 and "must end in .png" in err


def test_the_package_lists_its_lazy_public_names():
    import vaelab

    assert {"train", "load_run", "Config", "Run", "VaelabError"} <= set(dir(vaelab))


def test_a_folder_of_runs_given_as_a_run_names_the_runs_inside(tmp_path, monkeypatch, capsys):
    import vaelab

    for name in ("a", "b"):
        vaelab.train(out=tmp_path / "sweep" / "runs" / name, progress=False, figures=False,
                     dataset="digits", subset=100, epochs=1, hidden="8", latent_dim=2)
    for command in ("eval", "compare"):
        code, _, err = run_cli(monkeypatch, capsys, command, tmp_path / "sweep")
        assert code == 2 and err.count("\n") == 1, err
        assert "is not a run directory (it has no config.json) but holds runs" in err
        assert str(tmp_path / "sweep" / "runs" / "a") in err


def test_a_bare_command_shows_its_help_not_an_error(monkeypatch, capsys):
    for args in ([], ["recipe"]):  # the groups; a bare command says what it needs
        code, out, err = run_cli(monkeypatch, capsys, *args)
        assert "Usage: vaelab" in out + err and "error:" not in out + err, args
