"""The Ray backend against a real local Ray head bound to 127.0.0.1 (slow: Ray takes
~10 s to start; skipped when Ray, the optional extra vaelab[ray], is not installed), and
the run-directory transport it uses."""

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from vaelab.sweep import state as sweep_state
from vaelab.sweep.ray_backend import pack, unpack

TINY = {"data": {"dataset": "digits", "subset": 300}, "train": {"epochs": 1},
        "network": {"hidden": [32], "latent_dim": 4}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_pack_unpack_round_trip_and_refuses_escaping_paths(tmp_path):
    import io
    import tarfile

    src = tmp_path / "run"
    (src / "figures").mkdir(parents=True)
    (src / "config.json").write_text("{}")
    (src / "figures" / "a.png").write_bytes(b"\x89PNG")
    unpack(pack(src), tmp_path / "copy")
    assert (tmp_path / "copy" / "figures" / "a.png").read_bytes() == b"\x89PNG"
    # A hostile archive with ../ in a name is refused, and the target is untouched.
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("../evil.txt")
        info.size = 4
        archive.addfile(info, io.BytesIO(b"evil"))
    with pytest.raises(tarfile.TarError):
        unpack(buffer.getvalue(), tmp_path / "copy")
    assert not (tmp_path / "evil.txt").exists()
    assert (tmp_path / "copy" / "config.json").exists()


@pytest.mark.slow
def test_sweep_on_a_local_ray_head(tmp_path, monkeypatch):
    pytest.importorskip("ray")
    ray_cli = shutil.which("ray") or str(Path(sys.executable).parent / "ray")
    if not Path(ray_cli).exists():
        pytest.skip("the ray command is not installed")
    port = free_port()
    # Ray >= 2.59 requires a token on clusters started by `ray start`; the head and this
    # driver share one through the environment.
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.setenv("RAY_AUTH_TOKEN", secrets.token_hex(16))
    # Without Ray's single-machine flag `ray start` ignores --node-ip-address 127.0.0.1
    # and binds the machine's network address.
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    started = subprocess.run([ray_cli, "start", "--head", "--node-ip-address", "127.0.0.1",
                              "--port", str(port), "--num-cpus", "2",
                              "--include-dashboard", "false", "--disable-usage-stats"],
                             capture_output=True, text=True, timeout=120, env=env)
    assert started.returncode == 0, started.stderr
    try:
        # The driver runs as a user would run it: `vaelab sweep` in its own process, with
        # the cluster's token in its environment.
        out = tmp_path / "ray-sweep"
        result = subprocess.run(
            [sys.executable, "-m", "vaelab", "sweep", "--grid", "beta=0.5,1", "--dataset",
             "digits", "--subset", "300", "--hidden", "32", "--latent-dim", "4", "--epochs",
             "1", "--no-figures", "--metrics", "elbo", "--backend", "ray", "--address",
             f"127.0.0.1:{port}", "--out", str(out), "--quiet"],
            capture_output=True, text=True, timeout=300, env=env)
        assert result.returncode == 0, result.stderr[-2000:]
        summary = json.loads((out / "summary.json").read_text())
        assert [g["n"] for g in summary["groups"]] == [1, 1]
        for entry in json.loads((out / "sweep.json").read_text())["points"]:
            status = sweep_state.read_status(out, entry["name"])
            assert status["status"] == "done"
            metrics = json.loads((out / entry["run"] / "metrics.json").read_text())
            assert metrics["test"]["elbo"] < 0
        assert not list((out / "state").glob("*.claim"))  # all claims released
    finally:
        subprocess.run([ray_cli, "stop", "--force"], capture_output=True, timeout=120)


@pytest.mark.slow
def test_default_ray_binds_to_localhost(tmp_path):
    ray = pytest.importorskip("ray")
    from vaelab.sweep.ray_backend import connect

    try:
        assert connect(None) is True
        assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}
    finally:
        ray.shutdown()
