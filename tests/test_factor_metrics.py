"""The disentanglement and prdc gatherers on a tiny VAE trained on the procedural shapes,
the refusal on data without factors, and prdc's core on known cases."""

import pytest
import torch
from torch import nn

import vaelab
from vaelab.errors import VaelabError
from vaelab.metrics import evaluate, prdc
from vaelab.metrics.disentanglement import NUMBERS


@pytest.fixture(scope="module")
def shapes_run(tmp_path_factory):
    return vaelab.train(out=tmp_path_factory.mktemp("shapes") / "run", progress=False,
                        figures=False, dataset="shapes", shapes_size=16, subset=600,
                        hidden="32", latent_dim=4, epochs=1, batch_size=64)


def test_disentanglement_reports_all_six_scores_with_settings(shapes_run):
    out = evaluate(shapes_run.model, shapes_run.data, ["disentanglement"], seed=0,
                   options={"disentanglement": {"train_votes": 300, "eval_votes": 200}})
    stats = out["disentanglement"]
    assert stats["factors"] == ["shape", "scale", "orientation", "pos_x", "pos_y"]
    assert stats["fit_images"] == 600 and stats["scored_images"] == len(shapes_run.data.test)
    for number in NUMBERS:
        value = number.value({"disentanglement": stats})
        assert value is not None and -1e-9 <= value <= 1 + 1e-9, number.label
        assert "estimator" in stats[number.path[1]], number.label
    assert stats["beta_vae"]["train_points"] == 300 and stats["mig"]["bins"] == 20
    assert stats["dci"]["model"] == "lasso(alpha=0.05)"
    again = evaluate(shapes_run.model, shapes_run.data, ["disentanglement"], seed=0,
                     options={"disentanglement": {"train_votes": 300, "eval_votes": 200}})
    assert again["disentanglement"]["beta_vae"] == stats["beta_vae"]  # seeded


def test_disentanglement_refuses_data_without_factors(tmp_path):
    run = vaelab.train(out=tmp_path / "digits", progress=False, figures=False,
                       dataset="digits", subset=100, hidden="8", latent_dim=2, epochs=1)
    with pytest.raises(VaelabError, match="needs ground-truth factors, which digits does not "
                                          "have") as info:
        evaluate(run.model, run.data, ["disentanglement"])
    assert "\n" not in str(info.value)


def test_disentanglement_option_errors(shapes_run):
    with pytest.raises(VaelabError, match="dci_estimator 'forest' is unknown"):
        evaluate(shapes_run.model, shapes_run.data, ["disentanglement"],
                 options={"disentanglement": {"dci_estimator": "forest"}})


def test_prdc_known_cases():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(400, 6, generator=g)
    same = prdc.prdc(real, real)
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0
    assert 0.8 < same["density"] < 1.5
    far = prdc.prdc(real, real + 100.0)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
    # Samples from half of the real distribution: all precise, but only the real half
    # they came from (plus the fringe their k-NN balls reach over the cut) is recalled.
    half = real[real[:, 0] > 0]
    partial = prdc.prdc(real, half)
    assert partial["precision"] == 1.0
    assert 0.5 <= partial["recall"] < 0.85 and 0.5 <= partial["coverage"] < 0.85


def test_knn_radii_exclude_the_point_itself():
    points = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
    assert prdc.knn_radii(points, 1).tolist() == [1.0, 1.0, 2.0, 4.0]
    assert prdc.knn_radii(points, 2).tolist() == [3.0, 2.0, 3.0, 6.0]
    with pytest.raises(VaelabError, match="need more than 4 images"):
        prdc.knn_radii(points, 4)


class FakeFeatures(nn.Module):
    num_features = 5

    def __init__(self, dim):
        super().__init__()
        self.proj = nn.Linear(dim, 5)

    def embed(self, x):
        return self.proj(x)


def test_prdc_gather_on_any_feature_network(shapes_run):
    net = FakeFeatures(16 * 16)
    stats = prdc.gather(shapes_run.model, shapes_run.data, n_samples=200,
                        network=(net, {"dataset": "shapes"}))
    assert stats["samples"] == 200 and stats["reference_images"] == 200
    assert stats["k_precision_recall"] == 3 and stats["k_density_coverage"] == 5
    for key in ("precision", "recall", "coverage"):
        assert 0.0 <= stats[key] <= 1.0
    with pytest.raises(VaelabError, match="more than 5 samples"):
        prdc.gather(shapes_run.model, shapes_run.data, n_samples=5, network=(net, {}))


def test_eval_cli_reports_the_six_scores_as_json(shapes_run, monkeypatch, capsys):
    import json

    from conftest import run_cli

    code, stdout, err = run_cli(monkeypatch, capsys, "eval", shapes_run.path, "--metrics",
                                "disentanglement", "--json", "--quiet")
    assert code == 0, err
    stats = json.loads(stdout)["test"]["disentanglement"]
    for name in ("beta_vae", "factor_vae", "mig", "sap", "dci", "modularity", "explicitness"):
        assert stats[name]["estimator"], name
    assert stats["mig"]["bins"] == 20 and stats["beta_vae"]["group"] == 64


def test_eval_cli_refuses_disentanglement_without_factors(tmp_path, monkeypatch, capsys):
    from conftest import run_cli

    run = vaelab.train(out=tmp_path / "digits", progress=False, figures=False,
                       dataset="digits", subset=100, hidden="8", latent_dim=2, epochs=1)
    code, _, err = run_cli(monkeypatch, capsys, "eval", run.path, "--metrics",
                           "disentanglement", "--quiet")
    assert code != 0
    assert "needs ground-truth factors, which digits does not have" in err
    assert len(err.strip().splitlines()) == 1
    # --all means what the data supports: skipped with a note, not refused. (--all is cut
    # down to elbo + disentanglement here so the test need not train FID's classifier.)
    from vaelab import metrics as metrics_package

    monkeypatch.setattr(metrics_package, "parse_metric_names",
                        lambda text, all_metrics=False: ["elbo", "disentanglement"])
    code, stdout, err = run_cli(monkeypatch, capsys, "eval", run.path, "--all", "--json",
                                "--quiet")
    assert code == 0, err
    assert "skipped disentanglement: it needs ground-truth factors" in err
