"""The standard FID feature network: Inception-v3 as in the TensorFlow graph of Heusel et
al. 2017 (``pt_inception-2015-12-05``), in plain torch (no torchvision), loaded from a
local weights file.

Published FIDs (CIFAR-10, CelebA, ...) are Fréchet distances of this network's 2048
pool3 features. Three details make them this network's and not another Inception's; each
follows the TensorFlow graph, as pytorch-fid and torch-fidelity do:

- 1008 output classes (the 2015 graph's), weights converted from TensorFlow;
- the average-pool branch of every mixed block averages over the real pixels only (TF's
  ``SAME`` pooling: ``count_include_pad=False``), and the last block (Mixed_7c) pools with
  max instead of average;
- input: 8-bit RGB values resized to 299×299 by TensorFlow 1's bilinear rule (source
  coordinate = output coordinate × in/out, no half-pixel shift; torch-fidelity's choice,
  which reproduces the TF reference; pytorch-fid resizes with ``F.interpolate``, which
  moves its FIDs slightly), then scaled to [−1, 1] by (x − 128)/128.

Grey images are repeated over the three channels, and images in [0, 1] are rounded to 8
bits first, as saving them to PNG would. The Inception Score uses the logits without the
output bias, as the reference code of Salimans et al. 2016 does (``pool3 @ W``).

The weights (95 628 359 bytes, SHA-256 6726825d…) are read with
``torch.load(weights_only=True)``, PyTorch's restricted loader that only rebuilds tensors
(no code runs); they are searched for, checksummed and downloaded like a dataset
(vaelab/data/locate.py)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vaelab.data.locate import FileRemote, file_digest, locate_file, search_folders
from vaelab.errors import VaelabError
from vaelab.memory import chunk_size

# The file pytorch-fid publishes; torch-fidelity publishes the same bytes under
# ``weights-inception-2015-12-05-6726825d.pth``. Torch hub names a file by the first 8
# hex digits of its SHA-256, hence the suffix.
WEIGHTS_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
FILENAMES = ("pt_inception-2015-12-05-6726825d.pth", "weights-inception-2015-12-05-6726825d.pth")
ENV_WEIGHTS = "VAELAB_INCEPTION_WEIGHTS"
REMOTE_NAME = "inception"  # the folder searched under --data-dir, $VAELAB_DATA, the cache
INPUT_SIZE = 299
# Peak bytes of one 299×299 image through the network in float32 inference (measured on
# the CPU: 35 MB for 1 image, 141 MB for 8, i.e. ~15 MB per image), and the chunk that is
# fast enough when memory allows it.
BYTES_PER_IMAGE = 16 * 2**20
PREFERRED_CHUNK = {"cuda": 512}  # other devices: 64 (bigger chunks gain nothing on a CPU)
CLASSES = 1008
FEATURES = 2048


def _remote() -> FileRemote:
    return FileRemote(
        filename=FILENAMES[0],
        mirrors=("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/",),
        checksum=WEIGHTS_SHA256,
        what="the standard Inception-v3 FID weights",
        remedy=(f"pass --inception-weights FILE (or set ${ENV_WEIGHTS}); on a machine "
                f"without internet copy the file from one that has it. Or leave "
                "--fid-features at classifier"))


class Conv(nn.Module):
    """Convolution without bias, batch norm (ε = 0.001, TF's) and ReLU: TF's conv2d unit.
    The names conv/bn match the published state dict."""

    def __init__(self, inputs: int, outputs: int, kernel: int | tuple[int, int],
                 stride: int = 1, padding: int | tuple[int, int] = 0):
        super().__init__()
        self.conv = nn.Conv2d(inputs, outputs, kernel, stride=stride, padding=padding,
                              bias=False)
        self.bn = nn.BatchNorm2d(outputs, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool_same(x: torch.Tensor) -> torch.Tensor:
    """3×3 stride-1 average over the pixels inside the image (TF's SAME padding)."""
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class MixedA(nn.Module):
    """35×35 block: 1×1 | 1×1→5×5 | 1×1→3×3→3×3 | pool→1×1."""

    def __init__(self, inputs: int, pool_features: int):
        super().__init__()
        self.branch1x1 = Conv(inputs, 64, 1)
        self.branch5x5_1 = Conv(inputs, 48, 1)
        self.branch5x5_2 = Conv(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = Conv(inputs, 64, 1)
        self.branch3x3dbl_2 = Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = Conv(96, 96, 3, padding=1)
        self.branch_pool = Conv(inputs, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        wide = self.branch5x5_2(self.branch5x5_1(x))
        double = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        pooled = self.branch_pool(_avg_pool_same(x))
        return torch.cat([self.branch1x1(x), wide, double, pooled], 1)


class ReduceB(nn.Module):
    """35→17 reduction: 3×3/2 | 1×1→3×3→3×3/2 | max pool/2."""

    def __init__(self, inputs: int):
        super().__init__()
        self.branch3x3 = Conv(inputs, 384, 3, stride=2)
        self.branch3x3dbl_1 = Conv(inputs, 64, 1)
        self.branch3x3dbl_2 = Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = Conv(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        double = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), double, F.max_pool2d(x, 3, stride=2)], 1)


class MixedC(nn.Module):
    """17×17 block with factorised 7×7 convolutions (1×7 then 7×1)."""

    def __init__(self, inputs: int, channels_7x7: int):
        super().__init__()
        c = channels_7x7
        self.branch1x1 = Conv(inputs, 192, 1)
        self.branch7x7_1 = Conv(inputs, c, 1)
        self.branch7x7_2 = Conv(c, c, (1, 7), padding=(0, 3))
        self.branch7x7_3 = Conv(c, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = Conv(inputs, c, 1)
        self.branch7x7dbl_2 = Conv(c, c, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = Conv(c, c, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = Conv(c, c, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = Conv(c, 192, (1, 7), padding=(0, 3))
        self.branch_pool = Conv(inputs, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        single = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        double = x
        for step in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3,
                     self.branch7x7dbl_4, self.branch7x7dbl_5):
            double = step(double)
        pooled = self.branch_pool(_avg_pool_same(x))
        return torch.cat([self.branch1x1(x), single, double, pooled], 1)


class ReduceD(nn.Module):
    """17→8 reduction: 1×1→3×3/2 | 1×1→1×7→7×1→3×3/2 | max pool/2."""

    def __init__(self, inputs: int):
        super().__init__()
        self.branch3x3_1 = Conv(inputs, 192, 1)
        self.branch3x3_2 = Conv(192, 320, 3, stride=2)
        self.branch7x7x3_1 = Conv(inputs, 192, 1)
        self.branch7x7x3_2 = Conv(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = Conv(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = Conv(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        short = self.branch3x3_2(self.branch3x3_1(x))
        long = x
        for step in (self.branch7x7x3_1, self.branch7x7x3_2, self.branch7x7x3_3,
                     self.branch7x7x3_4):
            long = step(long)
        return torch.cat([short, long, F.max_pool2d(x, 3, stride=2)], 1)


class MixedE(nn.Module):
    """8×8 block whose 3×3 branches split into parallel 1×3 and 3×1 halves. ``max_pool``:
    the graph's last block pools with max (pytorch-fid's FIDInceptionE_2)."""

    def __init__(self, inputs: int, max_pool: bool):
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = Conv(inputs, 320, 1)
        self.branch3x3_1 = Conv(inputs, 384, 1)
        self.branch3x3_2a = Conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = Conv(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = Conv(inputs, 448, 1)
        self.branch3x3dbl_2 = Conv(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = Conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = Conv(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = Conv(inputs, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        single = self.branch3x3_1(x)
        single = torch.cat([self.branch3x3_2a(single), self.branch3x3_2b(single)], 1)
        double = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        double = torch.cat([self.branch3x3dbl_3a(double), self.branch3x3dbl_3b(double)], 1)
        pooled = (F.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool
                  else _avg_pool_same(x))
        return torch.cat([self.branch1x1(x), single, double, self.branch_pool(pooled)], 1)


def resize_like_tf1(x: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resize of [B, C, H, W] to size×size as TensorFlow 1's
    ``resize_bilinear(align_corners=False)``: output pixel i reads source coordinate
    i·in/out (no half-pixel shift), between floor and floor + 1 (clamped to the edge)."""
    for axis in (2, 3):
        n_in = x.shape[axis]
        source = torch.arange(size, dtype=torch.float64) * (n_in / size)
        low = source.floor().long()
        high = (low + 1).clamp(max=n_in - 1)
        frac = (source - low).to(x.dtype).to(x.device)
        shape = [1, 1, 1, 1]
        shape[axis] = size
        frac = frac.reshape(shape)
        x = (x.index_select(axis, low.to(x.device)) * (1 - frac)
             + x.index_select(axis, high.to(x.device)) * frac)
    return x


class FIDInception(nn.Module):
    """Inception-v3 of the TF FID graph up to pool3 (2048 features) and its 1008-way
    output layer. ``embed(images)``: pool3 features of images in [0, 1], [B, C, H, W] or
    flat [B, C·H·W] with ``image_shape``; ``out(features)``: logits without bias (IS)."""

    num_features = FEATURES  # torchmetrics' FID and vaelab's FID read this

    def __init__(self, image_shape: tuple[int, int, int] | None = None):
        super().__init__()
        self.image_shape = image_shape
        self.Conv2d_1a_3x3 = Conv(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = Conv(32, 32, 3)
        self.Conv2d_2b_3x3 = Conv(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = Conv(64, 80, 1)
        self.Conv2d_4a_3x3 = Conv(80, 192, 3)
        self.Mixed_5b = MixedA(192, pool_features=32)
        self.Mixed_5c = MixedA(256, pool_features=64)
        self.Mixed_5d = MixedA(288, pool_features=64)
        self.Mixed_6a = ReduceB(288)
        self.Mixed_6b = MixedC(768, channels_7x7=128)
        self.Mixed_6c = MixedC(768, channels_7x7=160)
        self.Mixed_6d = MixedC(768, channels_7x7=160)
        self.Mixed_6e = MixedC(768, channels_7x7=192)
        self.Mixed_7a = ReduceD(768)
        self.Mixed_7b = MixedE(1280, max_pool=False)
        self.Mixed_7c = MixedE(2048, max_pool=True)
        self.fc = nn.Linear(FEATURES, CLASSES)

    def network_input(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] → the graph's input: 3 channels, 8-bit values, 299×299,
        scaled to [−1, 1]."""
        if images.dim() == 2:
            if self.image_shape is None:
                raise ValueError("flat images need the network's image_shape")
            images = images.reshape(images.shape[0], *self.image_shape)
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        if images.shape[1] != 3:
            raise VaelabError(f"Inception FID needs grey or RGB images, got {images.shape[1]} "
                              "channels; use --fid-features classifier")
        pixels = (images.clamp(0, 1) * 255).round()
        return (resize_like_tf1(pixels, INPUT_SIZE) - 128) / 128

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """pool3 features [B, 2048], in chunks that fit the memory available: one image
        at 299×299 peaks at about ``BYTES_PER_IMAGE`` through the network, so a caller's
        batch of 2000 would need ~30 GB at once. cuDNN's TF32 convolutions are switched
        off: the features stay float32, as in the TF reference."""
        rows = chunk_size(BYTES_PER_IMAGE, preferred=PREFERRED_CHUNK.get(images.device.type, 64),
                          device=images.device)
        features = images.new_empty((images.shape[0], FEATURES), dtype=torch.float32)
        cudnn = torch.backends.cudnn
        with cudnn.flags(enabled=cudnn.enabled, benchmark=cudnn.benchmark,
                         deterministic=cudnn.deterministic, allow_tf32=False):
            for start in range(0, images.shape[0], rows):
                features[start:start + rows] = self._pool3(images[start:start + rows])
        return features

    def _pool3(self, images: torch.Tensor) -> torch.Tensor:
        x = self.network_input(images.float())
        for stage in (self.Conv2d_1a_3x3, self.Conv2d_2a_3x3, self.Conv2d_2b_3x3):
            x = stage(x)
        x = F.max_pool2d(x, 3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, 3, stride=2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a,
                      self.Mixed_6b, self.Mixed_6c, self.Mixed_6d, self.Mixed_6e,
                      self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        return x.mean(dim=(2, 3))  # pool3: the global average, [B, 2048]

    def out(self, features: torch.Tensor) -> torch.Tensor:
        return features @ self.fc.weight.T  # no bias: Salimans et al. 2016's reference

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.out(self.embed(images))


def weights_path(explicit: str | Path | None = None, data_dir: str | Path | None = None, *,
                 download: bool = True, progress: bool = True) -> Path:
    """The weights file: ``explicit`` (--inception-weights), else ``$VAELAB_INCEPTION_WEIGHTS``,
    else either published name in the first of ``<data_dir>/inception/``,
    ``$VAELAB_DATA/inception/``, ``~/.cache/vaelab/inception/``, the system data folder or
    torch hub's checkpoint folder (where pytorch-fid and torch-fidelity keep it) that holds
    one, else downloaded into vaelab's cache and checksummed."""
    given = explicit or os.environ.get(ENV_WEIGHTS)
    if given:
        path = Path(given).expanduser()
        if not path.is_file():
            source = "--inception-weights" if explicit else f"${ENV_WEIGHTS}"
            raise VaelabError(f"{source} {path} is not a file; give the path of "
                              f"{FILENAMES[0]} (SHA-256 {WEIGHTS_SHA256[:8]}…)")
        return path
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    for folder in [*search_folders(REMOTE_NAME, data_dir), hub]:
        for filename in FILENAMES:
            if (folder / filename).is_file():
                return folder / filename
    return locate_file(REMOTE_NAME, _remote(), data_dir, download=download,
                       progress=progress)


def checked_weights(explicit: str | Path | None = None, data_dir: str | Path | None = None,
                    *, progress: bool = True) -> Path:
    """``weights_path``, refused unless its SHA-256 is the published one: FIDs from any
    other file would not be the standard's."""
    path = weights_path(explicit, data_dir, progress=progress)
    digest = file_digest(path, WEIGHTS_SHA256)
    if digest != WEIGHTS_SHA256:
        raise VaelabError(f"{path} is not the standard Inception FID weights file (SHA-256 "
                          f"{digest[:16]}…, expected {WEIGHTS_SHA256[:16]}…); FIDs from it "
                          f"would not be comparable with published ones. Use {FILENAMES[0]} "
                          "as published by pytorch-fid")
    return path


def load_inception(explicit: str | Path | None = None, data_dir: str | Path | None = None,
                   device: torch.device | str = "cpu", *,
                   image_shape: tuple[int, int, int] | None = None,
                   progress: bool = True) -> tuple[FIDInception, dict[str, Any]]:
    """The network in eval mode on ``device`` with ``info`` (file, checksum), from the
    file ``checked_weights`` finds."""
    path = checked_weights(explicit, data_dir, progress=progress)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any decoding failure means a bad file
        raise VaelabError(f"{path} could not be read as a PyTorch state dict "
                          f"({type(err).__name__}); download it again") from None
    network = FIDInception(image_shape)
    missing, unexpected = network.load_state_dict(
        {k: v for k, v in state.items() if not k.startswith("AuxLogits.")}, strict=False)
    if missing or unexpected:
        raise VaelabError(f"{path} does not hold Inception-v3 FID weights (missing "
                          f"{len(missing)} tensors, e.g. {missing[:2]}; unexpected "
                          f"{len(unexpected)}, e.g. {unexpected[:2]})")
    info = {"architecture": "inception-v3 (TF FID graph, 2015-12-05)", "weights": str(path),
            "sha256": WEIGHTS_SHA256, "key": WEIGHTS_SHA256[:16], "features": FEATURES,
            "resize": "TF1 bilinear to 299×299, 8-bit input"}
    return network.to(device).eval(), info

