"""Data sets with known factors: the procedural shapes (exact, deterministic renders) and
dSprites' official npz (read without unpickling; located and downloaded like MNIST)."""

import hashlib
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from test_data_locate import isolated  # noqa: F401  (fixture)

from vaelab.config import Config
from vaelab.data import dsprites, locate, prepare_data
from vaelab.data.datasets import dataset_report
from vaelab.data.shapes import FACTOR_NAMES, factor_grid, inside, render
from vaelab.errors import VaelabError


def test_shapes_grid_and_renders_are_exact_and_deterministic():
    classes, values = factor_grid(32)
    assert classes.shape == (3 * 6 * 6 * 8 * 8, 5) and values.shape == classes.shape
    images, again_classes, _ = render(32)
    render.cache_clear()
    fresh, _, _ = render(32)
    assert np.array_equal(images, fresh) and np.array_equal(classes, again_classes)
    assert set(np.unique(images).tolist()) == {0, 255}
    # The unrotated square at scale 1 in the top-left position: centre (6.9, 6.9) px
    # (margin 0.2·32 + 0.5), half side 6.4/√2 = 4.525 px, so exactly the pixel centres
    # 2.5 .. 10.5 are inside: a full 9 x 9 block at rows and columns 2..10.
    square = images[(classes[:, 0] == 0) & (classes[:, 1] == 5) & (classes[:, 2] == 0)
                    & (classes[:, 3] == 0) & (classes[:, 4] == 0)][0]
    expected = np.zeros((32, 32), dtype=np.uint8)
    expected[2:11, 2:11] = 255
    assert values[0, 3] == pytest.approx(0.2 * 32 + 0.5) and 6.4 / math.sqrt(2) < 4.55
    assert np.array_equal(square, expected)
    # Same factors, same bytes on any machine.
    assert hashlib.md5(images.tobytes()).hexdigest() == hashlib.md5(fresh.tobytes()).hexdigest()


def test_shape_membership_tests():
    u = np.array([0.0, 0.7, 0.72, 0.0, 0.0])
    v = np.array([0.0, 0.0, 0.0, 0.45, 0.55])
    assert inside("square", u, v).tolist() == [True, True, False, True, True]
    assert inside("ellipse", u, v).tolist() == [True, True, True, True, False]
    # Triangle (circumradius 1, a vertex at +v, inradius 1/2): the base lies at v = -1/2.
    assert inside("triangle", np.zeros(3), np.array([0.99, -0.49, -0.51])).tolist() == [
        True, True, False]


@pytest.mark.parametrize("size, square_duplicates",
                         [(32, 152), pytest.param(64, 8, marks=pytest.mark.slow)])
def test_which_images_coincide(size, square_duplicates):
    # Ellipses and triangles are distinct for every factor combination; pixel quantisation
    # merges a few squares (neighbouring scales of the axis-aligned and 45° squares, and
    # the smallest squares at 15°-75°): the numbers the data set's docstring states.
    images, classes, _ = render(size)
    for shape, expected in ((0, square_duplicates), (1, 0), (2, 0)):
        rows = images[classes[:, 0] == shape].reshape(-1, size * size)
        _, inverse, counts = np.unique(rows, axis=0, return_inverse=True,
                                       return_counts=True)
        assert int((counts[inverse.ravel()] > 1).sum()) == expected, shape


def test_shapes_splits_carry_factors(tmp_path):
    config = Config().replace(dataset="shapes", shapes_size=16, subset=300)
    data = prepare_data(config.data)
    assert data.factor_names == FACTOR_NAMES and data.describe()["factors"] == FACTOR_NAMES
    assert data.image_shape == (1, 16, 16)
    for split in (data.train, data.val, data.test):
        assert split.factors.shape == (len(split), 5) and split.factors.dtype == torch.int64
        assert split.factor_values.shape == (len(split), 5)
        assert torch.equal(split.factors[:, 0], split.y.cpu())  # label = shape
    # The factors belong to their images: re-render the first training image's factors.
    images, classes, _ = render(16)
    row = np.flatnonzero((classes == data.train.factors[0].numpy()).all(1))[0]
    assert torch.equal(data.train.x[0], torch.from_numpy(images[row].copy()).reshape(-1) / 255.0)
    assert Config().replace(dataset="mnist").data.dataset == "mnist"


def test_shapes_size_is_checked():
    with pytest.raises(VaelabError, match="shapes-size"):
        Config().replace(dataset="shapes", shapes_size=8)


# -- dSprites ---------------------------------------------------------------------------
def write_dsprites(path, n=40, *, drop=None, imgs=None):
    """A small npz in the official layout, including the pickled metadata entry."""
    rng = np.random.default_rng(0)
    classes = np.zeros((n, 6), dtype=np.int64)
    classes[:, 1:] = rng.integers(0, [3, 6, 40, 32, 32], size=(n, 5))
    arrays = {
        "imgs": rng.integers(0, 2, size=(n, 64, 64)).astype(np.uint8) if imgs is None else imgs,
        "latents_classes": classes,
        "latents_values": classes.astype(np.float64) / 10,
        "metadata": np.array({"date": "April 2017", "title": "dSprites"}, dtype=object),
    }
    if drop:
        del arrays[drop]
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


def test_read_dsprites_never_unpickles_and_drops_the_constant_colour(tmp_path):
    path = write_dsprites(tmp_path / dsprites.REMOTE.filename)
    images, classes, values = dsprites.read_dsprites(path)
    assert images.shape == (40, 64, 64) and set(np.unique(images)) <= {0, 255}
    assert classes.shape == (40, 5) and values.shape == (40, 5)
    raw = np.load(path, allow_pickle=False)
    assert np.array_equal(classes, raw["latents_classes"][:, 1:])
    with pytest.raises(ValueError, match="allow_pickle"):
        raw["metadata"]  # the entry vaelab must never read


@pytest.mark.parametrize("problem, match", [
    ("drop", "lacks latents_values"),
    ("grey", "expected 0/1 sprites"),
    ("junk", "not a readable .npz"),
])
def test_bad_dsprites_files(tmp_path, problem, match):
    path = tmp_path / "d.npz"
    if problem == "drop":
        write_dsprites(path, drop="latents_values")
    elif problem == "grey":
        write_dsprites(path, imgs=np.full((40, 64, 64), 7, dtype=np.uint8))
    else:
        path.write_bytes(b"not a zip")
    with pytest.raises(VaelabError, match=match):
        dsprites.read_dsprites(path)


def test_dsprites_found_and_split(isolated):  # noqa: F811
    folder = isolated / "data" / "dsprites"
    write_dsprites(folder / dsprites.REMOTE.filename, n=50)
    cfg = SimpleNamespace(data_dir=str(isolated / "data"), path=None, test_path=None)
    train, test = dsprites.DSprites().load("train", cfg), dsprites.DSprites().load("test", cfg)
    assert len(train) == 45 and len(test) == 5
    assert train.factor_names == ["shape", "scale", "orientation", "pos_x", "pos_y"]
    info = {i.name: i for i in dataset_report(str(isolated / "data"))}["dsprites"]
    assert info.available and info.where == str(folder)


def test_dsprites_not_found_offline_says_where(isolated):  # noqa: F811
    with pytest.raises(VaelabError) as info:
        locate.locate_file("dsprites", dsprites.REMOTE, download=False)
    message = str(info.value)
    assert dsprites.REMOTE.filename in message and "downloading is switched off" in message
    assert str(isolated / "home" / ".cache" / "vaelab" / "dsprites") in message
    assert "\n" not in message


@pytest.fixture
def served(tmp_path):
    folder = tmp_path / "served" / "dsprites"
    write_dsprites(folder / dsprites.REMOTE.filename)
    return tmp_path / "served"


def test_dsprites_download_from_a_local_server(isolated, served, monkeypatch):  # noqa: F811
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/{{name}}/"
        good = hashlib.md5((served / "dsprites" / dsprites.REMOTE.filename).read_bytes())
        path = locate.locate_file("dsprites", dsprites.REMOTE, mirror=url,
                                  checksum=good.hexdigest(), progress=False)
        assert path == isolated / "home" / ".cache" / "vaelab" / "dsprites" / \
            dsprites.REMOTE.filename
        assert dsprites.read_dsprites(path)[0].shape == (40, 64, 64)
        path.unlink()
        # The canonical checksum does not match the test file: refused, nothing kept.
        with pytest.raises(VaelabError, match="checksum mismatch"):
            locate.locate_file("dsprites", dsprites.REMOTE, mirror=url, progress=False)
        assert not path.exists()
    finally:
        httpd.shutdown()
        httpd.server_close()
