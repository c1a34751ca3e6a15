"""--model vqvae (van den Oord et al. 2017): quantiser, codebook updates, the PixelCNN code
prior and the two training stages in one resumable run."""

import os
import subprocess
import sys

import pytest
import torch
from conftest import run_cli
from test_resume import _kill_after_rows, assert_same_run, train_command

import vaelab
from vaelab import rundir
from vaelab.config import Config
from vaelab.errors import VaelabError
from vaelab.models.pixelcnn import GatedPixelCNN
from vaelab.models.quantizer import VectorQuantizer
from vaelab.models.vqvae import VQVAE
from vaelab.objectives.vq import code_usage

VQ = dict(dataset="digits", model="vqvae", objective="vq", hidden="32", batch_size=64,
          binarize="dynamic", seed=7, codebook_size=8, code_dim=2, code_grid=2,
          prior_channels=8, prior_layers=1, autoencoder_epochs=3, subset=256)


def test_straight_through_gradient_is_the_identity_on_the_encoder_output():
    quantizer = VectorQuantizer(5, 3, "loss", 0.99, 0.0)
    z_e = torch.randn(7, 3, generator=torch.Generator().manual_seed(0), requires_grad=True)
    straight, quantized, index = quantizer(z_e)
    torch.testing.assert_close(straight, quantized)  # forward: the code e_c (up to rounding)
    assert torch.equal(quantized, quantizer.codebook[index])
    upstream = torch.randn(7, 3, generator=torch.Generator().manual_seed(1))
    (straight * upstream).sum().backward()
    assert torch.equal(z_e.grad, upstream)  # backward: dL/dz_e = dL/dz_q


def test_ema_codebook_update_converges_to_the_cluster_means():
    generator = torch.Generator().manual_seed(0)
    centres = torch.tensor([[4.0, 0.0], [-4.0, 0.0], [0.0, 5.0]])
    points = torch.cat([centre + 0.5 * torch.randn(50, 2, generator=generator)
                        for centre in centres])
    means = torch.stack([points[i * 50:(i + 1) * 50].mean(0) for i in range(3)])
    quantizer = VectorQuantizer(3, 2, "ema", 0.9, dead_threshold=0.0)
    with torch.no_grad():  # one code starts inside each cluster, far from its mean
        quantizer.codebook.copy_(centres + torch.tensor([1.0, 1.0]))
        quantizer.embed_sum.copy_(quantizer.codebook)
        quantizer.cluster_size.fill_(1.0)
    for _ in range(300):
        quantizer.update(points, quantizer.nearest(points))
    torch.testing.assert_close(quantizer.codebook, means, atol=1e-3, rtol=0)


def test_dead_codes_are_reset_to_encoder_outputs():
    torch.manual_seed(0)
    quantizer = VectorQuantizer(4, 2, "ema", 0.99, dead_threshold=1.0)
    z_e = torch.randn(16, 2) + 10.0
    quantizer.update(z_e, quantizer.nearest(z_e))  # counts start at 0: all four are dead
    for code in quantizer.codebook:
        assert (z_e == code).all(1).any()


def test_perplexity_and_usage_of_known_code_frequencies():
    perplexity, used = code_usage(torch.tensor([0, 0, 1, 1]), 4)  # two codes, equally often
    assert perplexity.item() == pytest.approx(2.0) and used.item() == 0.5


def test_pixelcnn_is_causal_in_raster_order():
    torch.manual_seed(0)
    model = GatedPixelCNN(codes=5, channels=8, layers=3)
    grid = 4
    codes = torch.randint(5, (2, grid, grid))
    logits = model(codes).detach()
    for position in range(grid * grid):
        changed = codes.clone().flatten(1)
        changed[:, position:] = torch.randint(5, changed[:, position:].shape)
        after = model(changed.view(2, grid, grid)).detach().flatten(2)
        # The output at position i (and before it) sees no input at positions >= i.
        torch.testing.assert_close(after[:, :, :position + 1],
                                   logits.flatten(2)[:, :, :position + 1])
    # ... and does see the inputs before it (the test above can fail).
    changed = codes.clone()
    changed[:, 0, 0] = (codes[:, 0, 0] + 1) % 5
    assert not torch.allclose(model(changed)[:, :, 0, 1], logits[:, :, 0, 1])


def test_vqvae_refuses_other_objectives_and_an_untrained_prior_in_one_line():
    with pytest.raises(VaelabError, match="add --objective vq"):
        VQVAE(Config.from_dict({"model": {"name": "vqvae"}}), (2, 3))
    model = VQVAE(Config.from_dict({"model": {"name": "vqvae"},
                                    "objective": {"name": "vq"}}), (2, 3))
    with pytest.raises(VaelabError, match="not been trained yet"):
        model.prior.sample(2)
    with pytest.raises(VaelabError, match="does not apply"):
        model.posterior(torch.rand(2, 6))


@pytest.mark.slow
def test_stopping_in_either_stage_and_resuming_equals_an_uninterrupted_run(tmp_path):
    options = {**VQ, "progress": False, "figures": False}
    vaelab.train(out=tmp_path / "whole", epochs=5, **options)
    for stop in (1, 4):  # in stage 1, and in stage 2 (the code prior)
        run = tmp_path / f"stopped-{stop}"
        vaelab.train(out=run, epochs=stop, **{**options, "autoencoder_epochs": 3})
        vaelab.train(resume=run, epochs=5, progress=False, figures=False)
        assert_same_run(tmp_path / "whole", run)
    history = rundir.read_history(tmp_path / "whole" / "history.csv")
    # Stage 2 trains the prior only: the validation reconstruction error (on the fixed
    # binarisation draw) stops moving, the code NLL falls, and the loss is the code NLL.
    assert history[3]["val_recon"] == history[4]["val_recon"]
    assert history[1]["val_recon"] != history[2]["val_recon"]
    assert history[4]["train_code_nll"] < history[2]["train_code_nll"]
    assert history[4]["train_loss"] == pytest.approx(history[4]["train_code_nll"])


def test_vqvae_trains_samples_and_reports_its_code_nll(tmp_path, monkeypatch, capsys):
    out = tmp_path / "vq"
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in {**VQ, "epochs": 4}.items()]
    code, _, err = run_cli(monkeypatch, capsys, "train", *flags, "--quiet", "--out", out)
    assert code == 0, err
    test = vaelab.load_run(out).metrics["test"]
    assert "elbo" not in test and "quantised code" in test["estimator"]
    png = tmp_path / "samples.png"
    code, _, err = run_cli(monkeypatch, capsys, "sample", out, "-n", 4, "--out", png)
    assert code == 0 and png.is_file(), err
    code, _, err = run_cli(monkeypatch, capsys, "eval", out, "--metrics", "code-nll")
    assert code == 0, err
    stats = vaelab.load_run(out).metrics["test"]["code_nll"]
    assert stats["nll_bound"] == pytest.approx(stats["recon"] + stats["code_nll"])
    code, _, err = run_cli(monkeypatch, capsys, "eval", out, "--metrics", "iw-nll")
    assert code != 0 and "does not apply" in err


@pytest.mark.slow
@pytest.mark.parametrize("rows", [1, 4])  # killed in stage 1, and in stage 2
def test_vqvae_resume_after_sigkill_is_bit_for_bit(tmp_path, rows):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(train_command(tmp_path / "whole", 6, VQ), check=True, env=env,
                   capture_output=True)
    _kill_after_rows(tmp_path, env, rows, VQ)
    resume = [sys.executable, "-c", "from vaelab.cli import main; main()", "train",
              "--resume", str(tmp_path / "killed"), "--quiet"]
    subprocess.run(resume, check=True, env=env, capture_output=True)
    assert_same_run(tmp_path / "whole", tmp_path / "killed")
