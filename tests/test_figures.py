"""Every figure on tiny digits runs (8×8 images, hidden 16, z = 2 and 4, one epoch): a valid
PNG of the size the figure asks for, GIF frame counts, determinism, --compare rules,
noise from another prior, the numerically safe Markov chain and the KL fallbacks."""

import io
import math
import warnings

import matplotlib
import numpy as np
import pytest
import torch
from PIL import Image

import vaelab
from vaelab.errors import VaelabError
from vaelab.figures import (
    COMPARE,
    DEFAULT_FIGURES,
    DPI,
    FIGURES,
    NotApplicable,
    all_names,
    caption,
    save_figure,
    write_all,
    write_figure,
    write_figures,
)
from vaelab.figures.interpolation import lerp, slerp
from vaelab.figures.kl import DimensionUsage, dimension_usage, usage_summary
from vaelab.figures.markov import ChainWarning, run_chain, strip_steps

TINY = dict(dataset="digits", hidden="16", epochs=1, batch_size=64)
# Small settings so the whole module stays fast; defaults are exercised by the CLI tests.
FAST = {"markov-chain": dict(steps=6, chains=3), "manifold": dict(grid=6),
        "samples": dict(n=16), "traversal": dict(dims=3, steps=5),
        "interpolation": dict(pairs=2, steps=4), "tableau": dict(n=4)}


def train_tiny(path, **overrides):
    return vaelab.train(out=path, progress=False, figures=False, **{**TINY, **overrides})


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("figure-runs")
    return {z: train_tiny(root / f"z{z}", latent_dim=z) for z in (2, 4)}


def png_bytes(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def title(fig) -> str:
    """The figure's title with line wrapping undone."""
    return " ".join(fig._suptitle.get_text().split())


def test_matplotlib_is_headless():
    assert matplotlib.get_backend().lower() == "agg"


@pytest.mark.parametrize("z", [2, 4])
@pytest.mark.parametrize("name", all_names())
def test_each_figure_writes_a_png_of_its_own_size(runs, tmp_path, name, z):
    run = runs[z]
    try:
        fig = FIGURES.get(name)(run, **FAST.get(name, {}))
    except NotApplicable as why:
        if name in ("classes", "layers"):  # other families' figures: tests/test_model_*.py
            assert run.config.model.name == "vae", why
            return
        assert name == "manifold" and z != 2, why
        return
    width, height = fig.get_size_inches()
    path = save_figure(fig, tmp_path / f"{name}.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        assert abs(image.width - width * DPI) <= 1 and abs(image.height - height * DPI) <= 1
        assert image.width >= 300 and image.height >= 200  # readable, not a thumbnail


def test_grey_images_use_a_fixed_black_to_white_scale(runs):
    fig = FIGURES.get("samples")(runs[2], n=4)
    image = fig.axes[0].images[0]
    assert image.get_clim() == (0.0, 1.0) and image.get_cmap().name == "gray"


def test_caption_names_model_dataset_epoch_and_estimator(runs):
    text = caption(runs[4])
    assert "digits" in text and "z = 4" in text and "epoch 1" in text  # describe_model
    assert "single-sample ELBO" in text and "nats" in text


def test_write_figures_draws_only_the_cheap_default_set(runs, tmp_path):
    written = write_figures(runs[2], out_dir=tmp_path)
    assert [p.name for p in written] == [f"{name}.png" for name in DEFAULT_FIGURES]


def test_write_all_skips_what_does_not_apply_with_a_note(runs, tmp_path, monkeypatch):
    # Only check the bookkeeping here: the figures themselves are tested above.
    from vaelab import figures

    monkeypatch.setattr(figures, "all_names", lambda: ["samples", "manifold"])
    written, skipped = write_all(runs[4], out_dir=tmp_path, n=4)
    assert [p.name for p in written] == ["samples.png"]
    assert len(skipped) == 1 and "manifold" in skipped[0] and "z=4" in skipped[0]
    written, skipped = write_all(runs[2], out_dir=tmp_path, n=4, grid=3)
    assert [p.name for p in written] == ["samples.png", "manifold.png"] and not skipped


def test_markov_chain_gif_has_the_requested_frames(runs, tmp_path):
    paths = write_figure("markov-chain", runs[2], tmp_path, steps=12, every=3, chains=2)
    assert [p.suffix for p in paths] == [".png", ".gif"]
    with Image.open(paths[1]) as gif:
        assert gif.n_frames == 12 // 3 + 1
        sizes = set()
        for frame in range(gif.n_frames):
            gif.seek(frame)
            sizes.add(gif.size)
        assert len(sizes) == 1


@pytest.mark.parametrize("name, options, seeded", [
    ("samples", dict(n=9, pixels=True), True),
    ("markov-chain", dict(steps=5, chains=2), True),
    ("interpolation", dict(pairs=1, steps=3), True),
    ("latent", dict(method="tsne", n=120), True),  # the seed picks the 120 points
    ("latent", dict(method="tsne"), False),  # all points, PCA initialisation: no randomness
])
def test_same_seed_same_bytes(runs, name, options, seeded):
    draw = FIGURES.get(name)
    first = png_bytes(draw(runs[4], seed=1, **options))
    assert png_bytes(draw(runs[4], seed=1, **options)) == first
    if seeded:
        assert png_bytes(draw(runs[4], seed=2, **options)) != first


def test_markov_chain_stays_in_the_data_range_and_warns_when_it_blows_up(runs, monkeypatch):
    run = runs[2]

    def exploding(params, generator=None):
        return torch.full_like(params, float("inf"))

    monkeypatch.setattr(run.model.likelihood, "sample", exploding)
    with pytest.warns(ChainWarning) as record:
        chain = run_chain(run, steps=4, chains=2)
    messages = " | ".join(str(w.message) for w in record)
    assert "non-finite" in messages and "saturated" in messages
    assert 0 <= float(chain.states.min()) and float(chain.states.max()) <= 1
    assert any("saturated" in problem for problem in chain.problems)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ChainWarning)
        fig = FIGURES.get("markov-chain")(run, steps=4, chains=2)
    assert "warning" in title(fig)


def test_healthy_chain_does_not_warn(runs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ChainWarning)
        chain = run_chain(runs[4], steps=5, chains=2, start="test")
    assert chain.means.shape == (6, 2, 1, 8, 8) and not chain.problems


def test_strip_steps_are_log_spaced_and_end_at_the_last_step():
    assert strip_steps(100) == [0, 1, 2, 5, 10, 20, 50, 100]
    assert strip_steps(7) == [0, 1, 2, 5, 7]


def test_samples_from_another_prior_of_the_registry(runs, monkeypatch):
    from vaelab.priors import PRIORS, Prior

    class Uniform(Prior):
        def sample(self, n, generator=None):
            return torch.rand((n, self.latent_dim), generator=generator) * 2 - 1

    monkeypatch.setitem(PRIORS._entries, "test-uniform", Uniform)
    fig = FIGURES.get("samples")(runs[2], n=4, source="test-uniform")
    assert "test-uniform noise, not the run's normal prior" in title(fig)
    own = FIGURES.get("samples")(runs[2], n=4, source="normal")
    assert png_bytes(own) == png_bytes(FIGURES.get("samples")(runs[2], n=4))
    with pytest.raises(VaelabError, match="choose one of: .*normal"):
        FIGURES.get("samples")(runs[2], n=4, source="cauchy-test")


def test_manifold_needs_a_2d_latent(runs):
    with pytest.raises(NotApplicable, match="2-D latent.*z=4"):
        FIGURES.get("manifold")(runs[4])
    assert issubclass(NotApplicable, VaelabError)


def test_latent_method_errors(runs):
    with pytest.raises(VaelabError, match="--method raw needs a 2-D latent"):
        FIGURES.get("latent")(runs[4], method="raw")
    with pytest.raises(VaelabError, match="choose one of"):
        FIGURES.get("latent")(runs[4], method="lda")
    try:
        import umap  # noqa: F401
    except ImportError:
        with pytest.raises(VaelabError, match="pip install umap-learn"):
            FIGURES.get("latent")(runs[4], method="umap")


def test_kl_ordering_falls_back_to_posterior_mean_variance(runs, monkeypatch):
    import vaelab.metrics.collapse as collapse

    assert dimension_usage(runs[4]).is_kl
    monkeypatch.setattr(collapse, "kl_per_dimension",
                        lambda *args, **kwargs: {"kl_per_dim": None})
    usage = dimension_usage(runs[4])
    assert not usage.is_kl and np.allclose(usage.values, usage.mean_variance)
    text = title(FIGURES.get("traversal")(runs[4], dims=2, steps=3))
    assert "variance of the posterior means" in text


def test_kl_figure_counts_active_units_as_vaelab_eval_does(runs):
    """One definition of an active unit (Burda et al. 2015: Cov_x(E_q[z_u]) > 0.01) in
    `vaelab eval` and `vaelab plot kl-per-dim`; dimensions numbered from 0 in both."""
    from vaelab.metrics import collapse

    for run in runs.values():
        stats = collapse.gather(run.model, run.data)
        fig = FIGURES.get("kl-per-dim")(run)
        bars = fig.axes[0]
        assert f"{stats['active_units']} of {stats['latent_dim']} active units" in \
            bars.get_title()
        blue = [round(p.get_x() + p.get_width() / 2) for p in bars.patches
                if p.get_facecolor()[:3] == matplotlib.colors.to_rgb("tab:blue")]
        assert blue == stats["active_dims"]  # the same dimensions, numbered from 0
    # Many dimensions may carry KL while few means move: those are not "active".
    usage = DimensionUsage(values=np.full(4, 0.5), is_kl=True, label="KL", estimator="",
                           mean_variance=np.array([0.2, 0.0, 0.001, 0.0]))
    text = usage_summary(usage, 0.01, "run")
    assert "1 of 4 active units" in text and "4 of 4 carry KL" in text
    traversal = FIGURES.get("traversal")(runs[4], dims=4, steps=3)
    labels = {t.get_text().split()[0] for t in traversal.axes[0].get_yticklabels()}
    assert labels == {"z0", "z1", "z2", "z3"}


def test_interpolation_paths():
    z0, z1 = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 3.0])
    t = torch.linspace(0, 1, 5)
    for path in (lerp, slerp):
        out = path(z0, z1, t)
        torch.testing.assert_close(out[0], z0)
        torch.testing.assert_close(out[-1], z1)
    torch.testing.assert_close(slerp(z0, z1, t).norm(dim=1), torch.full((5,), 3.0))
    torch.testing.assert_close(slerp(z0, 2 * z0, t), lerp(z0, 2 * z0, t))  # parallel


def test_interpolation_between_chosen_classes(runs):
    fig = FIGURES.get("interpolation")(runs[2], labels="3:8,1:7", steps=3)
    labels = [tick.get_text() for tick in fig.axes[0].get_yticklabels()]
    assert labels == ["3→8: linear", "spherical", "1→7: linear", "spherical"]
    with pytest.raises(VaelabError, match="pairs of class labels"):
        FIGURES.get("interpolation")(runs[2], labels="3-8")
    with pytest.raises(VaelabError, match="no test image has label 42"):
        FIGURES.get("interpolation")(runs[2], labels="42:1")


def test_reconstructions_per_class_label_the_columns(runs):
    fig = FIGURES.get("reconstructions")(runs[2], per_class=2)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == [str(d) for d in range(10)]


def test_curves_use_whole_epoch_ticks(runs):
    for fig in (FIGURES.get("curves")(runs[2], log=True),
                COMPARE.get("curves")([runs[2], runs[4]])):
        ax = fig.axes[0]
        low, high = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if low <= t <= high]
        assert ticks and all(float(t).is_integer() for t in ticks)


def test_curves_of_an_autoencoder_plot_no_elbo(runs, tmp_path):
    """An autoencoder has no ELBO (nor KL): its curves are its loss and reconstruction
    error, also next to a VAE, and also for runs whose history still has the columns."""
    ae = train_tiny(tmp_path / "ae", latent_dim=2, objective="ae")
    for row in ae.history:  # what runs written before the fix hold
        row.update(train_kl=0.0, train_elbo=-row["train_recon"])
    titles = [ax.get_title() for ax in FIGURES.get("curves")(ae).axes]
    assert titles and not any("ELBO" in t or "KL" in t for t in titles)
    assert any("reconstruction" in t for t in titles)
    both = COMPARE.get("curves")([ae, runs[2]])
    elbo_axes = [ax for ax in both.axes if "ELBO" in ax.get_title()]
    assert len(elbo_axes) == 1 and len(elbo_axes[0].lines) == 2  # the VAE's train and val


def test_compare_across_latent_sizes(runs):
    fig = COMPARE.get("tableau")([runs[2], runs[4]], n=3)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels[0] == "original" and len(labels) == 3 and "z=4" in labels[2]
    COMPARE.get("kl-per-dim")([runs[2], runs[4]])
    with pytest.raises(VaelabError, match="same latent size.*z=2.*z=4"):
        COMPARE.get("interpolation")([runs[2], runs[4]])
    same = COMPARE.get("interpolation")([runs[4], runs[4]], pairs=1, steps=3)
    assert len(same.axes[0].get_yticklabels()) == 4  # 2 runs × (linear, spherical)


def test_compare_refuses_runs_on_different_data(runs, tmp_path):
    images = np.random.default_rng(0).random((60, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "noise.npz", x=images)
    other = train_tiny(tmp_path / "npz", dataset="npz", data_path=str(tmp_path / "noise.npz"),
                       latent_dim=2)
    with pytest.raises(VaelabError, match="same data set"):
        COMPARE.get("tableau")([runs[2], other])
    # Unlabelled data: scatter without legend, interpolation without class names.
    assert FIGURES.get("latent")(other).axes[0].get_legend() is None
    FIGURES.get("interpolation")(other, pairs=1, steps=3)


def test_every_figure_has_a_docstring_and_compare_figures_take_lists():
    for name in all_names():
        assert FIGURES.get(name).__doc__, name
    assert set(COMPARE.names()) == {"curves", "interpolation", "kl-per-dim", "tableau"}
    assert math.isclose(DPI, 110)


def test_a_long_caption_is_wrapped_inside_its_figure():
    """Captions are wrapped from an estimate of glyph widths: the lines drawn must still
    fit inside the figure (a recipe's caption was cut at both edges)."""
    from vaelab.figures.common import new_figure

    text = ("decoder means along the path between posterior means; outer columns: the "
            "images; ae-seed0: mlp 512-256, z = 20, relu; diagonal Gaussian q; bernoulli; "
            "normal N(0, 1²); ae; beta=1-seed0: mlp 512-256, z = 20, relu; diagonal Gaussian "
            "q; bernoulli; normal N(0, 1²); elbo; WAE-MMD 1024-512 β=0.01 KL 12.34 nats")
    for width in (4.5, 7.33, 10.0):
        fig = new_figure(width, 3.0, text)
        fig.canvas.draw()
        box = fig.texts[0].get_window_extent()
        assert 0 <= box.x0 and box.x1 <= fig.bbox.x1, (width, box)
