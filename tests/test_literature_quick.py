"""benchmarks/literature.py's quick settings (one epoch on digits) run end to end for
the IWAE k=50 and planar-flow rows, so the long MNIST commands in benchmarks/RESULTS.md
keep working."""

import importlib.util
import json
import math
from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("one_thread")

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "literature.py"


def literature():
    spec = importlib.util.spec_from_file_location("literature", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("setting, expected", [("iwae50", "iwae k=50"),
                                               ("planar", "planar flow q, K=8")])
def test_quick_literature_setting_trains_and_scores(setting, expected, tmp_path, capsys):
    result = literature().main(["--setting", setting, "--quick", "--out",
                                str(tmp_path / setting)])
    assert expected in result["model"]
    assert result["k"] == 50 and math.isfinite(result["nll"])
    # The IS estimate is a tighter bound than the ELBO of the same draws (Burda et al.).
    assert result["nll"] <= -result["elbo_k"] + 1e-6
    stored = json.loads((tmp_path / setting / "literature.json").read_text())
    assert stored["reference"]["nll"] in (84.78, 85.10)
    assert "--posterior planar" in stored["command"] or "--iwae-k 50" in stored["command"]
