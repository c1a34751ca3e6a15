"""Shared test setup: headless matplotlib, the real data location, small helpers."""

import os
import sys
from pathlib import Path

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parents[1]
# CI and the Makefile set VAELAB_DATA; fall back to the shared folder beside the repo.
os.environ.setdefault("VAELAB_DATA", str(REPO.parent / "shared" / "data"))
DATA_ROOT = Path(os.environ["VAELAB_DATA"])
# Tests are about CPU behaviour (bit-for-bit resume, the non-finite stop at its step, ...)
# unless marked `cuda`: --device auto means the CPU here even where a GPU is present, in
# this process and the CLI subprocesses it starts. tests/test_cuda.py asks for CUDA.
os.environ["VAELAB_DEVICE"] = "cpu"
# The CLI's tables take $COLUMNS when it is set (cli/common.py): a machine's own $COLUMNS
# would rewrap the text the tests read (a phrase split over two lines at 77 columns).
# Output is read as piped (no width limit); a test about widths sets COLUMNS itself.
os.environ.pop("COLUMNS", None)

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")


def shared_data_dir() -> Path | None:
    """The folder holding the real mnist/ and fashion-mnist/ copies, or None."""
    return DATA_ROOT if (DATA_ROOT / "mnist").is_dir() else None


def has_dataset(name: str) -> bool:
    return (DATA_ROOT / name / "train-images-idx3-ubyte.gz").is_file()


requires_mnist = pytest.mark.skipif(not has_dataset("mnist"),
                                    reason="real MNIST not found under $VAELAB_DATA")


def run_cli(monkeypatch, capsys, *args):
    """Run `vaelab ARGS` in-process as a user would; (exit code, stdout, stderr)."""
    from vaelab.cli import main

    monkeypatch.setattr(sys, "argv", ["vaelab", *map(str, args)])
    code = 0
    try:
        main()
    except SystemExit as exit_:
        code = exit_.code or 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def component_flags(section: str, name: str, options: dict) -> list[str]:
    """The command-line flags that choose component ``name`` of ``section`` with
    ``options`` (its section keys), e.g. ["--prior", "normal", "--prior-std", "2.0"]."""
    from vaelab.config import fields

    by_key = {spec.key: spec for spec in fields()}
    name_key = f"{section}.{'dataset' if section == 'data' else 'name'}"
    flags = [f"--{by_key[name_key].cli}", name]
    for key, value in options.items():
        spec = by_key[f"{section}.{key}"]
        if isinstance(value, bool):
            flags.append(f"--{spec.cli}" if value else f"--no-{spec.cli}")
        else:
            text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
            flags += [f"--{spec.cli}", text or "none"]
    return flags


def component_examples(registry) -> list:
    """pytest params (name, options): every registered component with each example
    option set it declares."""
    return [pytest.param(name, options, id=f"{name}-{index}")
            for name, entry in registry.items()
            for index, options in enumerate(getattr(entry, "examples", [{}]))]


@pytest.fixture(scope="module")
def one_thread():
    """Tiny 8×8 models are fastest on one thread, and then a busy machine's other jobs
    cannot stall them (t-SNE's OpenMP pool likewise)."""
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(before)
