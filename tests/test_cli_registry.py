"""Valid combinations never crash (issue 12, class 8): the command line over the
registries. Tiny digits runs, trained once per module, one per registered prior (and, in
the slow set, per likelihood and objective); every prior as `sample --from`, every figure
of `plot`, every metric of `eval`. Each either works (exit 0) or refuses in one line
(exit 2, `error: ...`), never a traceback."""

import pytest
from conftest import run_cli

import vaelab
from vaelab.concepts import LIKELIHOODS, OBJECTIVES, PRIORS
from vaelab.figures import all_names
from vaelab.metrics import metric_names

TINY = dict(dataset="digits", subset=200, hidden="16", latent_dim=2, epochs=1,
            batch_size=64)
# The slow set adds every likelihood (perceptual trains the digits classifier first:
# minutes) and every objective.

pytestmark = pytest.mark.usefixtures("one_thread")


def kinds(slow: bool) -> dict[str, dict]:
    found = {f"prior-{name}": {"prior": name} for name in PRIORS.names()}
    if slow:
        found |= {f"likelihood-{name}": {"likelihood": name} for name in LIKELIHOODS.names()}
        found |= {f"objective-{name}": {"objective": name} for name in OBJECTIVES.names()}
    return found


@pytest.fixture(scope="module")
def prior_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("registry-runs")
    return {kind: vaelab.train(out=root / kind, progress=False, figures=False,
                               **TINY, **options).path
            for kind, options in kinds(False).items()}


def assert_clean(code: int, err: str, what: str) -> None:
    assert "Traceback" not in err, f"{what}: {err}"
    assert code == 0 or (code == 2 and err.startswith("error:")
                         and len(err.strip().splitlines()) == 1), f"{what}: {code} {err}"


@pytest.mark.parametrize("source", PRIORS.names())
def test_sample_from_every_prior(prior_runs, tmp_path, monkeypatch, capsys, source):
    # The original failure: `sample --from vampprior` ended in an IndexError (the prior
    # built for --from was never bound to the model whose encoder it uses).
    for kind, run in prior_runs.items():
        code, _, err = run_cli(monkeypatch, capsys, "sample", run, "--from", source, "-n", 4,
                               "--out", tmp_path / f"{kind}.png")
        assert code == 0, f"{kind} --from {source}: {err}"
        assert (tmp_path / f"{kind}.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow  # 40 s on the 2-core machine
def test_plot_all_and_eval_on_every_prior(prior_runs, tmp_path, monkeypatch, capsys):
    for kind, run in prior_runs.items():
        code, _, err = run_cli(monkeypatch, capsys, "plot", run, "--all", "--steps", 3,
                               "--chains", 2, "--every", 2, "--out-dir", tmp_path / kind)
        assert_clean(code, err, f"plot --all {kind}")
        code, _, err = run_cli(monkeypatch, capsys, "eval", run, "--quiet")
        assert_clean(code, err, f"eval {kind}")


@pytest.fixture(scope="module")
def every_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("registry-all")
    return {kind: vaelab.train(out=root / kind, progress=False, figures=False,
                               **TINY, **options).path
            for kind, options in kinds(True).items()}


@pytest.mark.slow
@pytest.mark.parametrize("figure", all_names())
def test_every_figure_on_every_family(every_run, tmp_path, monkeypatch, capsys, figure):
    for kind, run in every_run.items():
        code, _, err = run_cli(monkeypatch, capsys, "plot", run, figure, "--out-dir",
                               tmp_path / kind)
        assert_clean(code, err, f"plot {figure} {kind}")


@pytest.mark.slow
@pytest.mark.parametrize("metric", metric_names())
def test_every_metric_on_every_family(every_run, monkeypatch, capsys, metric):
    for kind, run in every_run.items():
        code, _, err = run_cli(monkeypatch, capsys, "eval", run, "--metrics", metric,
                               "--iw-samples", 8, "--fid-samples", 50, "--quiet")
        assert_clean(code, err, f"eval --metrics {metric} {kind}")


@pytest.mark.slow
@pytest.mark.parametrize("source", PRIORS.names())
def test_sample_from_every_prior_on_every_family(every_run, tmp_path, monkeypatch, capsys,
                                                 source):
    for kind, run in every_run.items():
        code, _, err = run_cli(monkeypatch, capsys, "sample", run, "--from", source, "-n", 4,
                               "--out", tmp_path / f"{kind}.png")
        assert_clean(code, err, f"sample --from {source} {kind}")
