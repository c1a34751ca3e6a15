"""Check vaelab's Inception-v3 FID network (vaelab/inception.py) against torch-fidelity's
independent implementation, with the same weights, on the same 8-bit images.

The standard weights cannot be fetched on this project's machines, so by default both
networks get the same random weights (every tensor of the state dict, with batch-norm
statistics drawn so activations stay in range); with --weights FILE they get the real
ones. torch-fidelity is read from its wheel without importing its package (which needs
torchvision):

    pip download torch-fidelity==0.4.0 --no-deps -d /tmp/tfid
    cd /tmp/tfid && unzip -oq torch_fidelity-0.4.0-py3-none-any.whl
    python benchmarks/inception_crosscheck.py --torch-fidelity /tmp/tfid/torch_fidelity

Prints the largest absolute and relative differences of the pool3 features and of the
unbiased logits, and the images' sizes tried (28×28 grey, 32×32 and 64×64 colour).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import types
from pathlib import Path

import torch

from vaelab.inception import FIDInception


def load_torch_fidelity(folder: Path):
    """torch-fidelity's feature extractor module, with its package stubbed out."""
    package = types.ModuleType("torch_fidelity")
    package.__path__ = [str(folder)]
    sys.modules["torch_fidelity"] = package
    for name in ("helpers", "feature_extractor_base", "interpolate_compat_tensorflow",
                 "feature_extractor_inceptionv3"):
        spec = importlib.util.spec_from_file_location(f"torch_fidelity.{name}",
                                                      folder / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return sys.modules["torch_fidelity.feature_extractor_inceptionv3"]


def random_state(network: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in network.state_dict().items():
        if key.endswith("num_batches_tracked"):
            state[key] = value
        elif key.endswith("running_var"):
            state[key] = 0.5 + torch.rand(value.shape, generator=generator)
        elif key.endswith("running_mean") or key.endswith("bias"):
            state[key] = 0.1 * torch.randn(value.shape, generator=generator)
        elif key.endswith("bn.weight"):
            state[key] = 0.5 + torch.rand(value.shape, generator=generator)
        else:  # convolutions and fc: He-scaled so activations neither vanish nor explode
            fan_in = value[0].numel()
            state[key] = torch.randn(value.shape, generator=generator) * (2 / fan_in) ** 0.5
    return state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--torch-fidelity", type=Path, required=True,
                        help="folder torch_fidelity/ of the unpacked wheel")
    parser.add_argument("--weights", type=Path, default=None,
                        help="the real weights file (default: random weights)")
    parser.add_argument("--images", type=int, default=4)
    args = parser.parse_args()
    tf_module = load_torch_fidelity(args.torch_fidelity)
    ours = FIDInception().eval()
    if args.weights is None:
        state = random_state(ours, 0)
        source = "random weights"
    else:
        state = torch.load(args.weights, map_location="cpu", weights_only=True)
        source = str(args.weights)
    ours.load_state_dict(state)
    theirs = tf_module.FeatureExtractorInceptionV3.__new__(
        tf_module.FeatureExtractorInceptionV3)
    # Build its layers without its constructor's download: the base class's init, then
    # every layer as its __init__ defines it, then the same state dict (strict).
    torch.nn.Module.__init__(theirs)
    saved = torch.load
    torch.load = lambda *a, **k: state  # its constructor loads the weights path we pass
    try:
        tf_module.FeatureExtractorInceptionV3.__init__(
            theirs, "inception-v3-compat", ["2048", "logits_unbiased"],
            feature_extractor_weights_path="(state above)")
    finally:
        torch.load = saved
    print(f"weights: {source}; torch {torch.__version__}")
    generator = torch.Generator().manual_seed(1)
    for channels, size in ((1, 28), (3, 32), (3, 64)):
        pixels = torch.randint(0, 256, (args.images, channels, size, size),
                               generator=generator, dtype=torch.uint8)
        with torch.no_grad():
            features = ours.embed(pixels.float() / 255)
            logits = ours.out(features)
            their_in = pixels.expand(-1, 3, -1, -1) if channels == 1 else pixels
            their_features, their_logits = theirs(their_in.contiguous())
        for name, a, b in (("pool3", features, their_features),
                           ("logits", logits, their_logits)):
            gap = (a - b).abs().max().item()
            scale = b.abs().max().item()
            print(f"{channels}×{size}×{size}: {name} max |diff| {gap:.3g} "
                  f"(max |value| {scale:.3g}, relative {gap / scale:.2g})")


if __name__ == "__main__":
    main()
