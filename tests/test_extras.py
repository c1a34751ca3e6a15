"""Optional extras (issue 12, class 7): a command that needs ray, mlflow, umap or
tensorboard checks for it with vaelab/extras.py before it writes anything, and fails in one
line with the exact pip command. Missing packages are simulated (sys.modules[name] = None,
or importlib.util.find_spec returning None)."""

import importlib.util
import sys

import pytest
from conftest import run_cli

from vaelab import extras
from vaelab.errors import VaelabError


@pytest.mark.parametrize("extra", sorted(extras.EXTRAS))
def test_a_missing_extra_is_one_line_with_the_pip_command(monkeypatch, extra):
    module, distribution = extras.EXTRAS[extra]
    monkeypatch.setitem(sys.modules, module, None)
    assert not extras.installed(extra)
    with pytest.raises(VaelabError) as caught:
        extras.require(extra, needed_by="--thing")
    message = str(caught.value)
    assert f"pip install 'vaelab[{extra}]'" in message and distribution in message
    assert "\n" not in message


def test_find_spec_decides_without_importing(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    assert not any(extras.installed(extra) for extra in extras.EXTRAS)
    monkeypatch.undo()
    assert extras.installed("tensorboard") == (importlib.util.find_spec("tensorboard")
                                               is not None)


def test_every_extra_is_declared_in_pyproject():
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    declared = pyproject["project"]["optional-dependencies"]
    for extra, (_, distribution) in extras.EXTRAS.items():
        assert any(dep.startswith(distribution) for dep in declared[extra]), extra


@pytest.mark.parametrize("args", [
    ["--grid", "beta=1,2", "--dataset", "digits"],               # command-line sweep
    ["--grid", "beta=1", "--dataset", "digits", "--out", "mine"],  # with --out
])
def test_sweep_backend_ray_without_ray_writes_nothing(tmp_path, monkeypatch, capsys, args):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "ray", None)
    code, _, err = run_cli(monkeypatch, capsys, "sweep", *args, "--backend", "ray")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--backend ray needs the ray package: pip install 'vaelab[ray]'" in err
    assert list(tmp_path.iterdir()) == []


def test_run_sweep_api_checks_the_extra_before_writing(tmp_path, monkeypatch):
    from test_sweep import tiny_spec

    from vaelab.sweep import run_sweep

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(VaelabError, match=r"pip install 'vaelab\[ray\]'"):
        run_sweep(tiny_spec(), tmp_path / "s", backend="ray", progress=False)
    assert not (tmp_path / "s").exists()


def test_recipe_backend_ray_without_ray_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "ray", None)
    code, _, err = run_cli(monkeypatch, capsys, "recipe", "run", "beta-sweep", "--quick",
                           "--backend", "ray")
    assert code == 2 and "pip install 'vaelab[ray]'" in err, err
    assert list(tmp_path.iterdir()) == []
