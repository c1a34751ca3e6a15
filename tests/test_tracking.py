"""--tensorboard and --mlflow: what a 1-epoch digits run logs can be read back with each
tool's own reader; a missing package or a tracker that cannot start fails before
training; a tracker that fails later loses nothing; tracking never changes training."""

import subprocess
import sys

import pytest
import torch
from conftest import run_cli

import vaelab
from vaelab import rundir, tracking
from vaelab.errors import VaelabError

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = ["--dataset", "digits", "--hidden", "32", "--latent-dim", "4", "--epochs", "1",
        "--quiet"]
API_TINY = dict(dataset="digits", hidden="32", latent_dim=4, epochs=1, progress=False,
                figures=False)


def test_tensorboard_logs_every_history_column_and_image_grids(tmp_path, monkeypatch,
                                                               capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    code, _, err = run_cli(monkeypatch, capsys, "train", *TINY, "--out", tmp_path / "run",
                           "--tensorboard", tmp_path / "tb")
    assert code == 0, err
    events = EventAccumulator(str(tmp_path / "tb" / "run"), size_guidance={"images": 0})
    events.Reload()
    history = rundir.read_history(tmp_path / "run" / "history.csv")
    expected = {tracking.scalar_tag(column) for column in history[0] if column != "epoch"}
    assert {"train/loss", "train/elbo", "val/elbo", "kl_weight", "epoch_seconds",
            "skipped_steps"} <= expected
    assert set(events.Tags()["scalars"]) == expected
    [val_elbo] = events.Scalars("val/elbo")
    assert val_elbo.step == 1 and val_elbo.value == pytest.approx(history[0]["val_elbo"])
    for name in ("reconstructions", "samples"):
        [image] = events.Images(f"images/{name}")
        assert image.step == 1 and image.width > 8 and len(image.encoded_image_string) > 100
    # The same training as without tracking, bit for bit.
    plain = vaelab.train(out=tmp_path / "plain", **API_TINY)
    tracked = rundir.load_checkpoint(tmp_path / "run" / "model.safetensors")[0]
    for name, tensor in plain.model.state_dict().items():
        assert torch.equal(tensor, tracked[name]), name


@pytest.mark.slow  # importing mlflow, creating its sqlite database: 8-13 s on a busy CPU
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # inside mlflow's sqlalchemy use
def test_mlflow_run_has_params_metrics_and_artifacts(tmp_path, monkeypatch, capsys):
    from mlflow import MlflowClient

    monkeypatch.chdir(tmp_path)  # MLflow's default artifact location is ./mlruns
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    code, _, err = run_cli(monkeypatch, capsys, "train", *TINY, "--out", tmp_path / "run",
                           "--mlflow", uri, "--mlflow-experiment", "digits-test")
    assert code == 0, err
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("digits-test")
    [run] = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "run" and run.info.status == "FINISHED"
    params = run.data.params
    assert params["data.dataset"] == "digits" and params["network.hidden"] == "32"
    assert params["train.epochs"] == "1" and params["train.nan_policy"] == "stop"
    history = rundir.read_history(tmp_path / "run" / "history.csv")
    assert set(history[0]) - {"epoch"} <= set(run.data.metrics)
    [val_elbo] = client.get_metric_history(run.info.run_id, "val_elbo")
    assert val_elbo.step == 1 and val_elbo.value == pytest.approx(history[0]["val_elbo"])
    metrics = rundir.read_json(tmp_path / "run" / "metrics.json")
    assert run.data.metrics["test_elbo"] == pytest.approx(metrics["test"]["elbo"])
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.json", "history.csv", "metrics.json", "figures"} <= artifacts
    figures = {a.path for a in client.list_artifacts(run.info.run_id, "figures")}
    assert "figures/reconstructions.png" in figures
    assert run.data.tags["vaelab.run_dir"] == str((tmp_path / "run").resolve())


@pytest.mark.parametrize("option, value", [("--tensorboard", "tb"),
                                           ("--mlflow", "sqlite:///mlruns.db")])
def test_a_missing_package_fails_before_anything_is_written(tmp_path, monkeypatch, capsys,
                                                            option, value):
    name = option[2:]
    monkeypatch.setitem(sys.modules, name, None)  # `import name` raises ImportError
    code, _, err = run_cli(monkeypatch, capsys, "train", *TINY, "--out", tmp_path / "run",
                           option, tmp_path / value if name == "tensorboard" else value)
    assert code == 2
    assert f"{option} needs the {name} package: pip install 'vaelab[{name}]'" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists() and not (tmp_path / "tb").exists()


def test_a_tracker_that_cannot_start_fails_before_training(tmp_path):
    (tmp_path / "not-a-dir").write_text("a file")
    with pytest.raises(VaelabError, match=r"--tensorboard .*not-a-dir: could not start "
                                          r"tracking"):
        vaelab.train(out=tmp_path / "run", tensorboard=tmp_path / "not-a-dir", **API_TINY)
    assert list((tmp_path / "run").iterdir()) == []  # an empty directory: nothing to force


def test_a_tracker_failing_during_training_loses_nothing(tmp_path, monkeypatch):
    def broken(self, row):
        raise OSError("disk full")

    monkeypatch.setattr(tracking.TensorBoardTracker, "log_epoch", broken)
    with pytest.raises(VaelabError, match=r"--tensorboard failed while logging epoch 1: "
                                          r"disk full; the epoch is saved: continue"):
        vaelab.train(out=tmp_path / "run", tensorboard=tmp_path / "tb", **API_TINY)
    assert rundir.load_checkpoint(tmp_path / "run" / "model.safetensors")[1]["epoch"] == 1
    resumed = vaelab.train(resume=tmp_path / "run", epochs=2, progress=False, figures=False)
    assert [row["epoch"] for row in resumed.history] == [1, 2]


def test_every_tracker_is_a_train_option_and_none_is_imported_unasked(monkeypatch, capsys):
    code, out, _ = run_cli(monkeypatch, capsys, "train", "--help")
    assert code == 0
    for name in tracking.TRACKERS:
        assert f"--{name}" in out
    check = ("import sys, vaelab.api, vaelab.cli; "
             "loaded = [m for m in ('mlflow', 'tensorboard', 'torch.utils.tensorboard') "
             "if m in sys.modules]; assert not loaded, loaded")
    subprocess.run([sys.executable, "-c", check], check=True)
