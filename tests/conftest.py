"""Shared test setup: headless matplotlib, the real data location, small helpers."""

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parents[1]
# CI and the Makefile set VAELAB_DATA; fall back to the shared folder beside the repo.
os.environ.setdefault("VAELAB_DATA", str(REPO.parent / "shared" / "data"))
DATA_ROOT = Path(os.environ["VAELAB_DATA"])


def shared_data_dir() -> Path | None:
    """The folder holding the real mnist/ and fashion-mnist/ copies, or None."""
    return DATA_ROOT if (DATA_ROOT / "mnist").is_dir() else None


def has_dataset(name: str) -> bool:
    return (DATA_ROOT / name / "train-images-idx3-ubyte.gz").is_file()


requires_mnist = pytest.mark.skipif(not has_dataset("mnist"),
                                    reason="real MNIST not found under $VAELAB_DATA")
