"""Degenerate data (issue 12, class 5): every command works on tiny, single-class or
oddly labelled data, or refuses up front in one line saying what is needed; the default
metric set of `eval` and `plot --all` skip what cannot apply, with a note."""

import json

import numpy as np
import pytest
from conftest import run_cli

import vaelab

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = dict(hidden="16", epochs=1, batch_size=64)


def digits(n: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    data = load_digits()
    return (data.images[:n] * 16).clip(0, 255).astype(np.uint8), data.target[:n]


def write_csv(path, images, labels) -> None:
    rows = ["label," + ",".join(f"pixel{i + 1}" for i in range(64))]
    rows += [f"{label}," + ",".join(map(str, image.ravel()))
             for image, label in zip(images, labels, strict=True)]
    path.write_text("\n".join(rows) + "\n")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("degenerate")
    x, y = digits(120)
    np.savez(root / "three.npz", x=x[:3], y=np.zeros(3, dtype=np.int64))
    # Labels that are not 0..K-1, and a test file with fewer images than classes.
    odd = np.array([3, 7, 1000, 5, 3, 7, 1000, 5, 3, 7])[y]
    write_csv(root / "odd.csv", x[:100], odd[:100])
    write_csv(root / "odd-test.csv", x[100:102], odd[100:102])
    return {
        "three": vaelab.train(out=root / "three", progress=False, figures=False,
                              dataset="npz", data_path=str(root / "three.npz"),
                              latent_dim=4, **TINY).path,
        "odd": vaelab.train(out=root / "odd", progress=False, figures=False, dataset="csv",
                            data_path=str(root / "odd.csv"),
                            test_path=str(root / "odd-test.csv"), latent_dim=3, **TINY).path,
    }


def test_eval_of_three_images_skips_the_probe_with_a_note(runs, monkeypatch, capsys):
    # The original failure: scikit-learn's "only one class" traceback.
    code, out, err = run_cli(monkeypatch, capsys, "eval", runs["three"], "--quiet")
    assert code == 0, err
    assert ("skipped probe: it needs at least 2 classes in the training split, it has 1"
            in err)
    metrics = json.loads((runs["three"] / "metrics.json").read_text())["test"]
    assert "probe" not in metrics and "collapse" in metrics and "elbo" in metrics


@pytest.mark.parametrize("metric, needed", [
    ("probe", "needs at least 2 classes in the training split, it has 1"),
    ("fid", "needs at least 2 test images, the run has 1"),
])
def test_a_named_metric_that_cannot_apply_is_refused_up_front(runs, monkeypatch, capsys,
                                                              metric, needed):
    before = (runs["three"] / "metrics.json").read_bytes()
    code, _, err = run_cli(monkeypatch, capsys, "eval", runs["three"], "--metrics", metric)
    assert code == 2 and f"error: metric {metric} {needed}" in err
    assert len(err.strip().splitlines()) == 1
    assert (runs["three"] / "metrics.json").read_bytes() == before


def test_the_python_api_refuses_as_the_command_line_does(runs):
    from vaelab.errors import VaelabError
    from vaelab.metrics import evaluate
    from vaelab.run import load_run

    run = load_run(runs["three"])
    with pytest.raises(VaelabError, match="metric probe needs at least 2 classes"):
        evaluate(run.model, run.data, ["elbo", "probe"])


def test_plot_all_on_three_images_skips_with_notes(runs, tmp_path, monkeypatch, capsys):
    # The original failure: a PCA traceback (one test image).
    code, out, err = run_cli(monkeypatch, capsys, "plot", runs["three"], "--all", "--steps",
                             3, "--chains", 2, "--every", 2, "--out-dir", tmp_path)
    assert code == 0, err
    assert "skipped latent: latent --method pca needs at least 2 points" in out
    assert "skipped interpolation: interpolation needs at least 2 test images" in out
    assert (tmp_path / "samples.png").exists()
    code, _, err = run_cli(monkeypatch, capsys, "plot", runs["three"], "latent",
                           "--out-dir", tmp_path)
    assert code == 2 and "needs at least 2 points" in err and err.count("\n") == 1


def test_odd_labels_and_fewer_test_images_than_classes(runs, monkeypatch, capsys):
    # Labels 3, 5, 7, 1000 and a test split of 2 images: k-means may only make 2 clusters,
    # and 2 clusters of 2 points are pure (purity 1, a known answer).
    code, _, err = run_cli(monkeypatch, capsys, "eval", runs["odd"], "--metrics", "probe",
                           "--quiet")
    assert code == 0, err
    probe = json.loads((runs["odd"] / "metrics.json").read_text())["test"]["probe"]
    assert probe["kmeans_purity"] == 1.0 and "2 clusters" in probe["estimator"]
    assert 0.0 <= probe["accuracy"] <= 1.0 and probe["chance"] in (0.0, 0.5, 1.0)
