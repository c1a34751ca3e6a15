"""`vaelab plot` as a user drives it, on tiny digits runs: files land in RUN/figures/,
--all skips what does not apply, --compare, and every error is one line `error: ...`
with exit code 2 and nothing written."""

import sys

import pytest
from conftest import run_cli
from PIL import Image

import vaelab

TINY = dict(dataset="digits", hidden="16", epochs=1, batch_size=64)




pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("plot-runs")
    return {z: vaelab.train(out=root / f"z{z}", progress=False, figures=False, latent_dim=z,
                            **TINY).path for z in (2, 4)}


def test_plot_named_figures_into_the_run_directory(runs, monkeypatch, capsys):
    code, out, err = run_cli(monkeypatch, capsys, "plot", runs[2], "samples", "manifold",
                             "-n", 9, "--grid", 4, "--device", "cpu")
    assert code == 0, err
    for name in ("samples", "manifold"):
        path = runs[2] / "figures" / f"{name}.png"
        assert f"wrote {path}" in out
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_all_skips_what_does_not_apply(runs, tmp_path, monkeypatch, capsys):
    code, out, err = run_cli(monkeypatch, capsys, "plot", runs[4], "--all", "--steps", 4,
                             "--chains", 2, "--every", 2, "--out-dir", tmp_path)
    assert code == 0, err
    assert "skipped manifold: manifold needs a 2-D latent" in out
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(["reconstructions.png", "samples.png", "curves.png", "latent.png",
                            "traversal.png", "interpolation.png", "kl-per-dim.png",
                            "markov-chain.png", "markov-chain.gif", "tableau.png"])
    with Image.open(tmp_path / "markov-chain.gif") as gif:
        assert gif.n_frames == 4 // 2 + 1


def test_variants_get_their_own_file(runs, tmp_path, monkeypatch, capsys):
    code, out, err = run_cli(monkeypatch, capsys, "plot", runs[2], "samples", "--from",
                             "normal", "-n", 4, "--out-dir", tmp_path)
    assert code == 0, err
    assert (tmp_path / "samples-from-normal.png").is_file()


def test_compare_writes_one_figure_for_several_runs(runs, tmp_path, monkeypatch, capsys):
    code, out, err = run_cli(monkeypatch, capsys, "plot", "--compare", runs[2], runs[4],
                             "tableau", "curves", "-n", 3, "--out-dir", tmp_path)
    assert code == 0, err
    assert {p.name for p in tmp_path.iterdir()} == {"compare-tableau.png",
                                                    "compare-curves.png"}


@pytest.mark.parametrize("args, fragment", [
    ([], "give a run directory"),
    (["{z2}"], "name what to plot"),
    (["{z2}", "lattent"], "did you mean 'latent'"),
    (["{z2}", "{z4}", "curves"], "use --compare"),
    (["{z2}", "--all", "samples"], "not both"),
    (["--compare", "{z2}", "curves"], "at least two run directories"),
    (["--compare", "{z2}", "{z4}", "samples"], "samples cannot compare runs"),
    (["--compare", "{z2}", "{z4}", "interpolation"], "same latent size"),
    (["{z4}", "manifold"], "manifold needs a 2-D latent; z4 has z=4"),
    (["{z4}", "latent", "--method", "raw"], "--method raw needs a 2-D latent"),
    (["{z4}", "latent", "--method", "lda"], "--method 'lda' is unknown"),
    (["{z2}", "samples", "--from", "cauchy"], "choose one of: laplace, mog, normal"),
    (["{z2}", "samples", "--method", "tsne"], "--method does not apply to samples"),
    (["{z2}", "samples", "-n", "many"], "-n expects an integer, got 'many'"),
    (["{z2}", "samples", "-n", "0"], "-n must be >= 1"),
    (["{z2}", "samples", "--temperature", "0"], "--temperature must be > 0"),
    (["{z2}", "interpolation", "--labels", "3-8"], "pairs of class labels"),
    (["{z2}", "traversal", "--index", "100000"], "--index must be in"),
    (["{z2}", "samples", "--checkpoint", "middle"], "choose one of: last, best"),
    (["{z2}", "samples", "--split", "train"], "choose one of: test, val"),
    (["no/such/run", "samples"], "does not exist"),
])
def test_bad_input_is_one_line_and_exit_code_2(runs, tmp_path, monkeypatch, capsys, args,
                                               fragment):
    monkeypatch.chdir(tmp_path)
    before = {z: sorted((path / "figures").glob("*")) for z, path in runs.items()}
    args = [a.format(z2=runs[2], z4=runs[4]) for a in args]
    code, out, err = run_cli(monkeypatch, capsys, "plot", *args)
    assert code == 2, (out, err)
    assert fragment in err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert {z: sorted((path / "figures").glob("*")) for z, path in runs.items()} == before


def test_umap_without_the_package_is_a_clear_error(runs, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "umap", None)  # as if umap-learn were not installed
    code, _, err = run_cli(monkeypatch, capsys, "plot", runs[4], "latent", "--method", "umap")
    assert code == 2 and "pip install umap-learn" in err and err.count("\n") == 1


def test_help_lists_the_figures(monkeypatch, capsys):
    code, out, _ = run_cli(monkeypatch, capsys, "plot", "--help")
    assert code == 0
    for name in ("reconstructions", "markov-chain", "tableau", "--compare", "--from"):
        assert name in out
