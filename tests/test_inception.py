"""The standard Inception-v3 FID network (vaelab/inception.py) and --fid-features.

The published weights cannot be fetched here, so the tests write a weights file of the
published layout with random values, and make it "the standard one" by patching the
expected SHA-256. The network itself was checked against torch-fidelity's independent
implementation with equal weights (benchmarks/inception_crosscheck.py: features equal to
3e-7 relative; benchmarks/RESULTS.md)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import threading
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import requires_mnist, run_cli
from test_data_locate import isolated  # noqa: F401  (fixture)

import vaelab
from vaelab import inception
from vaelab.errors import VaelabError
from vaelab.metrics import fid, prdc
from vaelab.metrics.features import FEATURE_NETWORKS, load_feature_network

SMALL_INPUT = 75  # the smallest input Inception-v3 takes: keeps the tests fast


@pytest.fixture
def small_input(monkeypatch):
    monkeypatch.setattr(inception, "INPUT_SIZE", SMALL_INPUT)


def random_weights(path: Path, seed: int = 0) -> Path:
    """A state dict in the published layout with random values whose activations stay
    finite and varied; returned after patching nothing (see ``standard``)."""
    network = inception.FIDInception()
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in network.state_dict().items():
        if key.endswith("num_batches_tracked"):
            state[key] = value
        elif key.endswith("running_var") or key.endswith("bn.weight"):
            state[key] = 0.5 + torch.rand(value.shape, generator=generator)
        elif key.endswith("running_mean") or key.endswith("bias"):
            state[key] = 0.1 * torch.randn(value.shape, generator=generator)
        else:
            scale = (2 / value[0].numel()) ** 0.5  # He: activations keep their size
            state[key] = torch.randn(value.shape, generator=generator) * scale
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory) -> tuple[Path, str]:
    path = random_weights(tmp_path_factory.mktemp("weights") / inception.FILENAMES[0])
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def weights(weights_file, tmp_path, monkeypatch):
    """A random weights file, accepted as the standard one (its SHA-256 patched in)."""
    path, sha256 = weights_file
    monkeypatch.setattr(inception, "WEIGHTS_SHA256", sha256)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv(inception.ENV_WEIGHTS, raising=False)
    return path


def test_the_network_has_the_published_size_and_names():
    network = inception.FIDInception()
    # torchvision's inception_v3 has 27 161 264 parameters; without its auxiliary head
    # (3 326 696) and with the TF graph's 1008 classes instead of 1000 (+ 8·2049):
    assert sum(p.numel() for p in network.parameters()) == 27_161_264 - 3_326_696 + 8 * 2049
    names = set(network.state_dict())
    assert {"Conv2d_1a_3x3.conv.weight", "Mixed_7c.branch3x3dbl_3b.bn.running_var",
            "fc.weight", "fc.bias"} <= names


def test_the_resize_is_tensorflow_1s_bilinear_rule():
    row = torch.tensor([0.0, 1.0]).reshape(1, 1, 1, 2).expand(1, 1, 2, 2)
    # Output pixel i reads source i·2/4 = 0, 0.5, 1, 1.5 (the last clamped at the edge).
    out = inception.resize_like_tf1(row, 4)
    assert out[0, 0, 0].tolist() == [0.0, 0.5, 1.0, 1.0]
    assert torch.equal(out[0, 0, 0], out[0, 0, 3])
    # Not PyTorch's half-pixel rule, which gives 0, 0.25, 0.75, 1:
    torch_rule = F.interpolate(row, size=(4, 4), mode="bilinear", align_corners=False)
    assert torch_rule[0, 0, 0].tolist() == [0.0, 0.25, 0.75, 1.0]
    image = torch.rand(2, 3, 5, 7)
    assert torch.equal(inception.resize_like_tf1(image[..., :5], 5), image[..., :5])


def test_grey_images_are_the_same_as_equal_rgb_channels_and_rounded_to_8_bits(small_input):
    network = inception.FIDInception((1, 8, 8))
    grey = torch.randint(0, 256, (3, 1, 8, 8)) / 255  # exact 8-bit levels
    as_input = network.network_input(grey.flatten(1))
    assert as_input.shape == (3, 3, SMALL_INPUT, SMALL_INPUT)
    assert torch.equal(as_input, network.network_input(grey.expand(-1, 3, -1, -1)))
    assert as_input.min() >= -1 and as_input.max() <= 127 / 128
    nudged = grey + 0.4 / 255  # below half a grey level: the same 8-bit image
    assert torch.equal(network.network_input(nudged.clamp(0, 1)), as_input)
    with pytest.raises(VaelabError, match="grey or RGB"):
        network.network_input(torch.rand(1, 2, 8, 8))


def test_weights_load_with_the_restricted_loader_and_give_the_same_network(weights,
                                                                           small_input):
    network, info = inception.load_inception(weights)
    reference = inception.FIDInception()
    reference.load_state_dict(torch.load(weights, weights_only=True))
    images = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        features = network.embed(images)
        assert torch.allclose(features, reference.eval().embed(images))
        logits = network.out(features)
    assert features.shape == (2, 2048) and logits.shape == (2, 1008)
    assert torch.allclose(logits, features @ reference.fc.weight.T)  # IS: no output bias
    assert info["sha256"] == inception.WEIGHTS_SHA256 and info["weights"] == str(weights)


def test_a_file_that_is_not_the_standard_one_is_refused(tmp_path, weights):
    other = random_weights(tmp_path / "other.pth", seed=1)
    with pytest.raises(VaelabError, match="not the standard Inception FID weights") as err:
        inception.load_inception(other)
    assert "\n" not in str(err.value)
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a checkpoint")
    inception_sha = hashlib.sha256(broken.read_bytes()).hexdigest()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(inception, "WEIGHTS_SHA256", inception_sha)
        with pytest.raises(VaelabError, match="could not be read"):
            inception.load_inception(broken)
    partial = tmp_path / "partial.pth"
    state = torch.load(weights, weights_only=True)
    torch.save({k: v for k, v in state.items() if not k.startswith("Mixed_7c")}, partial)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(inception, "WEIGHTS_SHA256", hashlib.sha256(partial.read_bytes()).hexdigest())
        with pytest.raises(VaelabError, match="does not hold Inception-v3 FID weights"):
            inception.load_inception(partial)
    with pytest.raises(VaelabError, match="--inception-weights .* is not a file"):
        inception.load_inception(tmp_path / "absent.pth")


def test_the_weights_are_found_where_pytorch_fid_and_vaelab_keep_them(isolated, weights,  # noqa: F811
                                                                      monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(isolated / "torch-home"))
    hub = isolated / "torch-home" / "hub" / "checkpoints" / inception.FILENAMES[1]
    hub.parent.mkdir(parents=True)
    hub.write_bytes(weights.read_bytes())
    assert inception.weights_path(download=False) == hub
    data = isolated / "data" / "inception" / inception.FILENAMES[0]
    data.parent.mkdir(parents=True)
    data.write_bytes(weights.read_bytes())
    monkeypatch.setenv("VAELAB_DATA", str(isolated / "data"))
    assert inception.weights_path(download=False) == data  # vaelab's folders come first
    # ... whichever published name each folder holds.
    data.rename(data.with_name(inception.FILENAMES[1]))
    hub.rename(hub.with_name(inception.FILENAMES[0]))
    assert inception.weights_path(download=False) == data.with_name(inception.FILENAMES[1])
    monkeypatch.setenv(inception.ENV_WEIGHTS, str(weights))
    assert inception.weights_path(download=False) == weights


def test_missing_weights_offline_is_one_line_naming_every_remedy(isolated, weights,  # noqa: F811
                                                                  monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(isolated / "torch-home"))
    with pytest.raises(VaelabError) as err:
        inception.weights_path(download=False)
    message = str(err.value)
    assert "\n" not in message
    for part in ("the standard Inception-v3 FID weights not found", inception.FILENAMES[0],
                 "--inception-weights", "--fid-features at classifier"):
        assert part in message


def test_the_weights_download_from_a_local_server_and_are_checksummed(isolated, weights,  # noqa: F811
                                                                      monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(isolated / "torch-home"))
    served = isolated / "served" / "inception"
    served.mkdir(parents=True)
    (served / inception.FILENAMES[0]).write_bytes(weights.read_bytes())
    handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                directory=str(isolated / "served"))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("VAELAB_MIRROR", f"http://127.0.0.1:{httpd.server_address[1]}/{{name}}/")
        path = inception.weights_path(progress=False)
        cache = isolated / "home" / ".cache" / "vaelab" / "inception"
        assert path == cache / inception.FILENAMES[0]
        assert path.read_bytes() == weights.read_bytes()
        path.unlink()
        monkeypatch.setattr(inception, "WEIGHTS_SHA256", "0" * 64)
        with pytest.raises(VaelabError, match="checksum mismatch"):
            inception.weights_path(progress=False)
        assert not path.exists()
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    return vaelab.train(out=tmp_path_factory.mktemp("inception") / "run", progress=False,
                        figures=False, dataset="digits", hidden="32", latent_dim=4, epochs=1,
                        batch_size=64, val_fraction=0.02)  # a 26-image val split: fast scoring


def test_fid_and_prdc_on_inception_features_say_so(digits_run, weights, small_input,
                                                   tmp_path, monkeypatch):
    monkeypatch.setenv("VAELAB_CACHE", str(tmp_path / "cache"))
    stats = fid.gather(digits_run.model, digits_run.data, n_samples=16, features="inception",
                       inception_weights=str(weights), split="val")
    assert stats["features"] == "inception" and stats["fid_samples"] > 0
    assert "Inception-v3 pool3 features (2048-d" in stats["estimator"]
    assert "sample_class_fractions" not in stats  # ImageNet classes say nothing of digits
    assert 1 <= stats["inception_score"] <= 1008
    cached = list((tmp_path / "cache" / "inception").glob("fid-inception-*-ref-*.safetensors"))
    assert len(cached) == 1  # the test images' statistics, reused by the next call
    again = fid.gather(digits_run.model, digits_run.data, n_samples=16, features="inception",
                       inception_weights=str(weights), split="val")
    assert again["fid_samples"] == stats["fid_samples"]
    scores = prdc.gather(digits_run.model, digits_run.data, n_samples=16, features="inception",
                         inception_weights=str(weights), split="val")
    assert scores["features"] == stats["features"] and "Inception-v3" in scores["estimator"]
    assert 0 <= scores["precision"] <= 1 and 0 <= scores["recall"] <= 1


def test_the_feature_networks_registry_and_its_errors(digits_run):
    assert FEATURE_NETWORKS.names() == ["classifier", "inception"]
    with pytest.raises(VaelabError, match="unknown feature network 'inceptoin'.*inception"):
        load_feature_network("inceptoin", digits_run.data, None, "cpu")
    with pytest.raises(VaelabError, match="read by --fid-features inception only"):
        load_feature_network("classifier", digits_run.data, None, "cpu", weights="w.pth")


def test_eval_with_inception_features_from_the_cli(digits_run, weights, small_input, tmp_path,
                                                  monkeypatch, capsys):
    monkeypatch.setenv("VAELAB_CACHE", str(tmp_path / "cache"))
    code, out, err = run_cli(monkeypatch, capsys, "eval", digits_run.path, "--metrics", "fid",
                             "--fid-features", "inception", "--inception-weights", weights,
                             "--fid-samples", "16", "--split", "val", "--json", "--quiet")
    assert code == 0, err
    stored = json.loads(out)["val"]["fid"]
    assert stored["features"] == "inception" and stored["samples"] == 16


@pytest.mark.parametrize("args, message", [
    (["--metrics", "elbo", "--fid-features", "inception"], "neither is among --metrics"),
    (["--metrics", "fid", "--inception-weights", "w.pth"],
     "--inception-weights is read by --fid-features inception only"),
])
def test_eval_refuses_feature_options_that_nothing_reads(digits_run, monkeypatch, capsys, args,
                                                         message):
    code, _, err = run_cli(monkeypatch, capsys, "eval", digits_run.path, *args)
    assert code != 0 and message in err


def test_fids_of_two_feature_networks_are_never_ranked_together():
    from vaelab.metrics.columns import comparability_notes

    def section(features, value):
        return {"fid": {"fid_samples": value, "samples": 1000, "images": 10000,
                        "sampler": "the normal prior", "features": features}}

    notes, concerned = comparability_notes(
        [section("classifier", 12.0), section("inception", 30.0)], ["mnist", "mnist"])
    assert "FID samples" in concerned
    assert any("runs differ in features" in note for note in notes)
    same, _ = comparability_notes([section("inception", 30.0)] * 2, ["mnist", "mnist"])
    assert same == []
    # Scored before --fid-features existed (no "features" field): the classifier's.
    legacy = section(None, 11.0)
    del legacy["fid"]["features"]
    _, concerned = comparability_notes([legacy, section("inception", 30.0)], ["mnist"] * 2)
    assert "FID samples" in concerned
    notes, _ = comparability_notes([legacy, section("classifier", 12.0)], ["mnist"] * 2)
    assert notes == []


def test_a_recipe_without_fid_refuses_fid_features(tmp_path, monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "recipe", "run", "posterior-collapse",
                           "--quick", "--fid-features", "inception", "--out", tmp_path / "r")
    assert code != 0 and "neither is among its metrics" in err
    assert not (tmp_path / "r").exists()


@requires_mnist
def test_a_recipe_with_inception_fid_and_no_weights_stops_before_training(
        tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv(inception.ENV_WEIGHTS, raising=False)
    monkeypatch.setenv("VAELAB_MIRROR", "http://127.0.0.1:9/{name}/")  # refused at once
    code, _, err = run_cli(monkeypatch, capsys, "recipe", "run", "beta-sweep", "--quick",
                           "--fid-features", "inception", "--out", tmp_path / "r")
    assert code != 0 and "the standard Inception-v3 FID weights not found" in err
    assert not (tmp_path / "r").exists()  # nothing written, nothing trained


def test_inception_chunks_the_images_to_the_memory_available(weights, small_input,
                                                             monkeypatch):
    network, _ = inception.load_inception(weights)
    images = torch.rand(5, 3, 12, 12)
    with torch.no_grad():
        whole = network.embed(images)
        monkeypatch.setattr(inception, "BYTES_PER_IMAGE", 2**62)  # room for one at a time
        assert torch.allclose(network.embed(images), whole, atol=1e-5)


def test_inception_fid_needs_no_labels_but_the_classifier_does(digits_run):
    import dataclasses

    from vaelab.metrics import METRICS

    data = digits_run.data
    unlabelled = dataclasses.replace(data, train=dataclasses.replace(data.train, y=None))
    for name in ("fid", "prdc"):
        metric = METRICS.get(name)
        assert metric.unmet(unlabelled, "test", {"features": "inception"}) is None
        assert "needs class labels" in metric.unmet(unlabelled, "test", {})
        assert metric.unmet(data, "test", {}) is None


def test_eval_finds_the_weights_before_any_metric_runs(digits_run, tmp_path, monkeypatch,
                                                       capsys):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv(inception.ENV_WEIGHTS, raising=False)
    monkeypatch.setenv("VAELAB_MIRROR", "http://127.0.0.1:9/{name}/")  # refused at once
    code, _, err = run_cli(monkeypatch, capsys, "eval", digits_run.path, "--metrics",
                           "iw-nll,fid", "--iw-samples", "2", "--fid-features", "inception")
    assert code != 0 and "the standard Inception-v3 FID weights not found" in err
    assert "iw_nll" not in json.loads((digits_run.path / "metrics.json").read_text())["test"]
