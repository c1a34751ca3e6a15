"""The regularised objectives of the model zoo: known answers."""

import itertools
import math

import pytest
import torch

from vaelab.config import Config
from vaelab.model import VAE
from vaelab.objectives import build_objective, evaluation_objective, is_variational
from vaelab.objectives.beta_tcvae import decompose_kl, pairwise_log_q, stratified_log_weights
from vaelab.objectives.dip_vae import covariance, dip_penalties
from vaelab.objectives.mmd import WAE_SCALES, mmd
from vaelab.objectives.rae import decoder_gradient_penalty
from vaelab.posterior import DiagonalGaussian


def tiny(objective, **options):
    torch.manual_seed(0)
    config = Config.from_dict({"network": {"hidden": [8], "latent_dim": 3},
                               "objective": {"name": objective, **options}})
    return config, VAE(config, (2, 3))


def batch(n=16):
    return torch.rand(n, 6, generator=torch.Generator().manual_seed(1)).round()


def random_posterior(batch_size, dim, seed=0, dtype=torch.float64):
    generator = torch.Generator().manual_seed(seed)
    return DiagonalGaussian(torch.randn(batch_size, dim, generator=generator, dtype=dtype),
                            0.5 * torch.randn(batch_size, dim, generator=generator,
                                              dtype=dtype))


def standard_normal_log_p(z):
    return (-0.5 * (z**2 + math.log(2 * math.pi))).sum(-1)


# -- beta-tcvae ------------------------------------------------------------------------------
@pytest.mark.parametrize("estimator", ["mws", "mss"])
def test_tc_terms_sum_to_the_single_sample_kl(estimator):
    """Chen et al. 2018, eq. 2: MI + TC + dimension-wise KL = KL, here per sample exactly
    log q(z|x) − log p(z), and on average the analytic KL."""
    q = random_posterior(64, 3)
    z = q.rsample(generator=torch.Generator().manual_seed(1))
    log_pz = standard_normal_log_p(z)
    terms = decompose_kl(q, z, log_pz, 1000, estimator)
    total = terms["mi"] + terms["tc"] + terms["dim_kl"]
    torch.testing.assert_close(total, q.log_prob(z) - log_pz)
    analytic = (0.5 * (q.mean**2 + q.logvar.exp() - 1 - q.logvar)).sum(-1)
    k = 20_000
    zs = q.rsample(k, generator=torch.Generator().manual_seed(2))  # [k, B, Z]
    monte_carlo = (q.log_prob(zs) - standard_normal_log_p(zs)).mean(0)
    torch.testing.assert_close(monte_carlo, analytic, atol=0.05, rtol=0.02)


def test_tc_of_a_factorised_q_that_ignores_x_is_zero_for_mss():
    """q(z|x) = one factorised Gaussian for every x: q(z) is that Gaussian, factorised,
    so MI = TC = 0; MSS's weights sum to 1 and give exactly 0. MWS's weights sum to 1/N
    (the paper's estimator): TC = (Z − 1)·log N and MI = log N, its known constant offset."""
    dim, n = 4, 500
    q = DiagonalGaussian(torch.full((32, dim), 0.3, dtype=torch.float64),
                         torch.full((32, dim), -0.7, dtype=torch.float64))
    z = q.rsample(generator=torch.Generator().manual_seed(0))
    log_pz = standard_normal_log_p(z)
    mss = decompose_kl(q, z, log_pz, n, "mss")
    torch.testing.assert_close(mss["tc"], torch.zeros(32, dtype=torch.float64))
    torch.testing.assert_close(mss["mi"], torch.zeros(32, dtype=torch.float64))
    mws = decompose_kl(q, z, log_pz, n, "mws")
    torch.testing.assert_close(mws["tc"], torch.full((32,), (dim - 1) * math.log(n),
                                                     dtype=torch.float64))
    torch.testing.assert_close(mws["mi"], torch.full((32,), math.log(n), dtype=torch.float64))


def test_tc_of_a_factorised_gaussian_aggregate_is_zero_in_expectation():
    """Means drawn independently per dimension, one variance: the aggregate posterior of
    a large data set is (close to) factorised, so MSS's TC averages to about 0, far below
    the TC of strongly correlated means."""
    generator = torch.Generator().manual_seed(3)
    n, dim = 4096, 2
    logvar = torch.full((n, dim), math.log(0.05), dtype=torch.float64)
    independent = torch.randn(n, dim, generator=generator, dtype=torch.float64)
    shared = torch.randn(n, 1, generator=generator, dtype=torch.float64)
    correlated = torch.cat([shared, shared + 0.05 * torch.randn(n, 1, generator=generator,
                                                                 dtype=torch.float64)], 1)
    tcs = []
    for means in (independent, correlated):
        values = []
        for start in range(0, n, 256):
            q = DiagonalGaussian(means[start:start + 256], logvar[start:start + 256])
            z = q.rsample(generator=generator)
            values.append(decompose_kl(q, z, standard_normal_log_p(z), n, "mss")["tc"])
        tcs.append(float(torch.cat(values).mean()))
    assert abs(tcs[0]) < 0.1
    assert tcs[1] > 1.0


def test_stratified_weights_estimate_q_of_z_without_bias():
    """Brute force on a tiny data set (N = 5, batches of 3): averaged over every batch that
    holds the code's own image, in every order, MSS's q̂(z) = Σ_j w_j q(z|x_j) is exactly
    q(z) = 1/N Σ_n q(z|x_n); each weight row sums to 1."""
    n, size = 5, 3
    q = random_posterior(n, 2, seed=4)
    z = q.rsample(generator=torch.Generator().manual_seed(5))
    log_q = pairwise_log_q(q, z).sum(-1)  # [N, N]: log q(z_i | x_j)
    exact = log_q.exp().mean(1)
    weights = stratified_log_weights(size, n, dtype=torch.float64).exp()
    torch.testing.assert_close(weights.sum(1), torch.ones(size, dtype=torch.float64))
    for i in range(n):
        estimates = []
        others = [j for j in range(n) if j != i]
        for chosen in itertools.permutations(others, size - 1):
            members = [i, *chosen]  # the code's own image first: row 0 of the weights
            estimates.append(float((weights[0] * log_q[i, members].exp()).sum()))
        assert sum(estimates) / len(estimates) == pytest.approx(float(exact[i]), rel=1e-12)


def test_mws_on_the_whole_data_set_is_q_of_z_over_n():
    """MWS with the batch = the data set (M = N): q̂(z) = 1/(NM) Σ_j q(z|x_j) = q(z)/N
    exactly, the paper's estimator's known offset of −log N."""
    n = 6
    q = random_posterior(n, 3, seed=6)
    z = q.rsample(generator=torch.Generator().manual_seed(7))
    log_pz = standard_normal_log_p(z)
    terms = decompose_kl(q, z, log_pz, n, "mws")
    exact_log_qz = torch.logsumexp(pairwise_log_q(q, z).sum(-1), 1) - math.log(n)
    log_qz = q.log_prob(z) - terms["mi"]
    torch.testing.assert_close(log_qz, exact_log_qz - math.log(n))


def test_beta_tcvae_with_unit_weights_is_the_elbo_with_a_monte_carlo_kl():
    config, model = tiny("beta-tcvae", beta=1.0, tc_estimator="mws")
    objective = build_objective(config.objective, train_size=100)
    x = batch()
    out = objective(model, x, 0, generator=torch.Generator().manual_seed(0))
    q = model.posterior(x)
    z = q.rsample(generator=torch.Generator().manual_seed(0))
    single_sample_kl = q.log_prob(z) - model.prior.log_prob(z)
    torch.testing.assert_close(out.loss, (out.recon + single_sample_kl).mean())
    assert set(out.terms) == {"mi", "tc", "dim_kl"}
    assert all(value.shape == (16,) for value in out.terms.values())


def test_beta_tcvae_defaults_are_its_own_when_switched_from_the_elbo():
    """--beta is shared with the elbo (default 1): beta-tcvae keeps its own default 6."""
    config = Config().replace(objective="beta-tcvae")
    assert (config.objective.alpha, config.objective.beta, config.objective.gamma) == (1, 6, 1)
    assert Config().replace(objective="beta-tcvae", beta=2.0).objective.beta == 2.0


# -- MMD -------------------------------------------------------------------------------------
@pytest.mark.parametrize("kernel, scales", [("rbf", (1.0,)), ("imq", (1.0,)),
                                            ("imq", WAE_SCALES)])
def test_mmd_is_zero_for_one_distribution_and_positive_for_two(kernel, scales):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(500, 2, generator=generator, dtype=torch.float64)
    same = torch.randn(500, 2, generator=generator, dtype=torch.float64)
    shifted = torch.randn(500, 2, generator=generator, dtype=torch.float64) + 3.0
    identical = float(mmd(x, x.clone(), kernel, scales))
    alike = float(mmd(x, same, kernel, scales))
    apart = float(mmd(x, shifted, kernel, scales))
    assert abs(identical) < 0.01 * apart and abs(alike) < 0.01 * apart
    assert apart > 0.3 * len(scales)


def test_mmd_matches_its_definition_on_three_points():
    x = torch.tensor([[0.0], [1.0], [3.0]], dtype=torch.float64)
    y = torch.tensor([[0.5], [2.0], [-1.0]], dtype=torch.float64)
    c = 2.0  # C = 2·Z

    def k(a, b):
        return c / (c + (a - b) ** 2)

    same = sum(k(x[i], x[j]) + k(y[i], y[j]) for i in range(3) for j in range(3) if i != j)
    cross = sum(k(x[i], y[j]) for i in range(3) for j in range(3))
    expected = same / 6 - 2 * cross / 9
    assert float(mmd(x, y, "imq")) == pytest.approx(float(expected), rel=1e-12)


# -- DIP-VAE ---------------------------------------------------------------------------------
def whitened(n, dim, seed=0):
    """n means [n, dim] whose batch covariance is exactly the identity."""
    values = torch.randn(n, dim, generator=torch.Generator().manual_seed(seed),
                         dtype=torch.float64)
    centred = values - values.mean(0)
    cholesky = torch.linalg.cholesky(covariance(centred))
    return centred @ torch.linalg.inv(cholesky).T


def test_dip_penalties_vanish_for_identity_covariance_only():
    means = whitened(64, 3)
    torch.testing.assert_close(covariance(means), torch.eye(3, dtype=torch.float64))
    for value in dip_penalties(covariance(means)).values():
        assert float(value) == pytest.approx(0.0, abs=1e-20)
    skewed = dip_penalties(covariance(means * torch.tensor([1.0, 2.0, 1.0],
                                                           dtype=torch.float64)))
    assert float(skewed["dip_diagonal"]) == pytest.approx(9.0)  # (4 − 1)²
    mixed = dip_penalties(torch.tensor([[1.0, 0.5], [0.5, 1.0]]))
    assert float(mixed["dip_off_diagonal"]) == pytest.approx(0.5)


def test_dip_vae_ii_adds_the_mean_posterior_variance():
    """DIP-VAE-II's Cov_q(z)[z] = E[Σ(x)] + Cov[μ(x)]: means with covariance 0.75·I and
    variances 0.25 give the identity, so its penalties are 0 (DIP-VAE-I's are not)."""
    config, _ = tiny("dip-vae-ii")
    second = build_objective(config.objective)
    first = build_objective(tiny("dip-vae-i")[0].objective)
    q = DiagonalGaussian(whitened(64, 3) * math.sqrt(0.75),
                         torch.full((64, 3), math.log(0.25), dtype=torch.float64))
    for value in dip_penalties(second.code_covariance(q)).values():
        assert float(value) == pytest.approx(0.0, abs=1e-20)
    assert float(dip_penalties(first.code_covariance(q))["dip_diagonal"]) == pytest.approx(
        3 * 0.25**2)


# -- RAE -------------------------------------------------------------------------------------
def test_rae_gradient_penalty_matches_the_autograd_jacobian():
    _, model = tiny("rae-gp")
    model = model.double()
    z = torch.randn(4, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    _, penalty = decoder_gradient_penalty(model, z)
    for i in range(4):
        jacobian = torch.autograd.functional.jacobian(
            lambda code: model.likelihood.mean(model.decoder_params(code)), z[i])  # [D, Z]
        assert float(penalty[i].detach()) == pytest.approx(float(jacobian.sum(0).pow(2).sum()),
                                                  rel=1e-10)


def test_rae_gradient_penalty_trains_the_decoder_and_evaluates_without_grad():
    config, model = tiny("rae-gp", decoder_penalty=1.0)
    objective = build_objective(config.objective)
    out = objective(model, batch(), 0)
    out.loss.backward()
    assert all(p.grad is not None for p in model.decoder.parameters())
    with torch.no_grad():
        again = objective(model, batch(), 0)
    torch.testing.assert_close(again.loss, out.loss.detach())
    assert not again.loss.requires_grad


def test_rae_l2_penalises_the_decoder_weights_only():
    config, model = tiny("rae-l2", latent_penalty=0.0, decoder_penalty=1.0)
    out = build_objective(config.objective)(model, batch(), 0)
    squared = sum(float(p.detach().pow(2).sum()) for p in model.decoder.parameters())
    assert float(out.terms["decoder_l2"].detach()) == pytest.approx(squared, rel=1e-6)
    torch.testing.assert_close(out.loss, out.recon.mean() + out.terms["decoder_l2"])


# -- honesty ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name, options, variational", [
    ("beta-tcvae", {}, True), ("dip-vae-i", {}, True), ("dip-vae-ii", {}, True),
    ("infovae", {}, True), ("wae-mmd", {"wae_encoder": "gaussian"}, True),
    ("wae-mmd", {}, False), ("rae-l2", {}, False), ("rae-gp", {}, False)])
def test_only_a_posterior_density_gives_an_elbo(name, options, variational):
    config, model = tiny(name, **options)
    assert is_variational(config.objective) is variational
    assert build_objective(config.objective).is_variational is variational
    evaluation = evaluation_objective(config.objective)
    out = evaluation(model, batch(), 0, generator=torch.Generator().manual_seed(0))
    if variational:  # the true ELBO, whatever the training loss
        torch.testing.assert_close(out.loss, (out.recon + out.kl).mean())
    else:
        assert float(out.kl.abs().sum()) == 0.0


def test_wae_deterministic_encoder_uses_the_mean_and_no_kl():
    config, model = tiny("wae-mmd", lambda_mmd=2.0)
    x = batch()
    out = build_objective(config.objective)(model, x, 0,
                                            generator=torch.Generator().manual_seed(0))
    z = model.posterior(x).mean
    torch.testing.assert_close(out.recon,
                               -model.likelihood.log_prob(x, model.decoder_params(z)))
    torch.testing.assert_close(out.loss, out.recon.mean() + 2.0 * out.terms["mmd"])


def test_infovae_weights_kl_and_mmd_as_the_paper():
    config, model = tiny("infovae", alpha=0.5, lambda_mmd=3.0)
    out = build_objective(config.objective)(model, batch(), 0,
                                            generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out.loss, (out.recon + 0.5 * out.kl).mean()
                               + 2.5 * out.terms["mmd"])


def test_infovae_refuses_alpha_above_one():
    from vaelab.errors import VaelabError

    config, model = tiny("infovae", alpha=1.5)
    with pytest.raises(VaelabError, match="α must be <= 1"):
        build_objective(config.objective).check(model)


# -- the loop's named terms and the command line ----------------------------------------------
def test_history_row_averages_named_terms_per_image():
    from vaelab.trainer import history_row

    row = history_row(3, 63, [130.0, 120.0, 10.0, 2.0, 0.0], 6.0, None, 1.5,
                      terms={"tc": 0.5, "mi": 3.0})
    assert (row["train_tc"], row["train_mi"]) == (0.25, 1.5)
    assert list(row)[:8] == ["epoch", "step", "train_loss", "train_recon", "train_kl",
                             "train_elbo", "train_tc", "train_mi"]


def test_add_terms_sums_per_image_terms_and_weights_batch_values():
    from vaelab.stepper import add_terms

    sums = {}
    size = torch.tensor(4.0)
    add_terms(sums, {"each": torch.tensor([1.0, 2.0, 3.0, 4.0]), "batch": torch.tensor(0.5)},
              torch.tensor(True), size)
    add_terms(sums, {"each": torch.full((4,), float("nan")), "batch": torch.tensor(9.0)},
              torch.tensor(False), size)  # a skipped step adds nothing
    assert (float(sums["each"]), float(sums["batch"])) == (10.0, 2.0)


def train_digits(tmp_path, name, *options):
    import vaelab

    return vaelab.train(dataset="digits", subset=128, epochs=1, hidden=[16], latent_dim=2,
                        batch_size=50, objective=name, out=tmp_path / name, progress=False,
                        figures=False, **dict(options))


@pytest.mark.parametrize("name, options, columns", [
    ("beta-tcvae", [("tc_estimator", "mss")], {"train_mi", "train_tc", "train_dim_kl",
                                               "train_elbo"}),
    ("dip-vae-ii", [], {"train_dip_off_diagonal", "train_dip_diagonal", "train_elbo"}),
    ("infovae", [], {"train_mmd", "train_elbo"}),
    ("wae-mmd", [("wae_encoder", "gaussian")], {"train_mmd", "train_elbo"}),
])
def test_variational_zoo_objectives_log_their_terms_and_the_true_elbo(tmp_path, name,
                                                                      options, columns):
    run = train_digits(tmp_path, name, *options)
    row = run.history[-1]
    assert columns <= set(row) and all(math.isfinite(row[c]) for c in columns)
    test = run.metrics["test"]
    assert "single-sample ELBO" in test["estimator"] and math.isfinite(test["elbo"])


def test_plain_elbo_history_has_no_extra_columns(tmp_path):
    run = train_digits(tmp_path, "elbo")
    assert {key for key in run.history[-1] if key.startswith("train_")} == {
        "train_loss", "train_recon", "train_kl", "train_elbo"}


def test_a_deterministic_zoo_objective_is_described_honestly_by_cli(tmp_path, monkeypatch,
                                                                    capsys):
    """wae-mmd with its deterministic encoder trains from the command line; history,
    metrics, compare and the report name it and give no KL and no ELBO."""
    from conftest import run_cli

    from vaelab import rundir

    out = tmp_path / "wae"
    code, _, err = run_cli(monkeypatch, capsys, "train", "--dataset", "digits", "--subset", 128,
                           "--epochs", 1, "--hidden", 16, "--latent-dim", 2, "--objective",
                           "wae-mmd", "--lambda-mmd", 5, "--quiet", "--out", out)
    assert code == 0, err
    history = rundir.read_history(out / rundir.HISTORY_FILE)
    assert "train_mmd" in history[0] and "train_elbo" not in history[0]
    test = rundir.read_json(out / rundir.METRICS_FILE)["test"]
    assert "elbo" not in test and "not an ELBO" in test["estimator"]
    code, stdout, err = run_cli(monkeypatch, capsys, "compare", out)
    assert code == 0, err
    assert "wae-mmd λ=5, deterministic encoder" in " ".join(stdout.split())
    code, _, err = run_cli(monkeypatch, capsys, "report", out, "--out", tmp_path / "r.html")
    assert code == 0, err
    assert "wae-mmd λ=5, deterministic encoder" in (tmp_path / "r.html").read_text()
    code, _, err = run_cli(monkeypatch, capsys, "train", "--dataset", "digits", "--objective",
                           "wae-mmd", "--kernel", "imq", "--out", tmp_path / "x")
    assert code == 2 and "objective wae-mmd does not read --kernel" in err


ZOO = ["beta-tcvae", "dip-vae-i", "dip-vae-ii", "infovae", "wae-mmd", "rae-l2", "rae-gp"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ZOO)
def test_every_zoo_objective_trains_and_evaluates_from_the_cli(tmp_path, monkeypatch, capsys,
                                                               name):
    from conftest import run_cli

    out = tmp_path / name
    code, _, err = run_cli(monkeypatch, capsys, "train", "--dataset", "digits", "--subset", 256,
                           "--epochs", 2, "--hidden", 16, "--latent-dim", 2, "--objective",
                           name, "--quiet", "--out", out)
    assert code == 0, err
    code, stdout, err = run_cli(monkeypatch, capsys, "eval", out, "--metrics", "elbo")
    assert code == 0, err
    assert name in " ".join(stdout.split())


@pytest.mark.parametrize("objective", ["beta-tcvae", "dip-vae-ii"])
def test_objectives_reading_gaussian_parameters_refuse_other_posteriors(objective):
    from vaelab.config import Config
    from vaelab.errors import VaelabError
    from vaelab.model import VAE
    from vaelab.objectives import build_objective

    config = Config().replace(hidden="8", latent_dim=2, objective=objective,
                              posterior="planar")
    with pytest.raises(VaelabError, match="use --posterior gaussian"):
        build_objective(config.objective).check(VAE(config, (2, 3)))
