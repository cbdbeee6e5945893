"""Find, download, verify and decode the four MNIST files.

Everything outside the student notebook loads MNIST through :func:`load_mnist`. It
looks for the files in one directory, chosen in this order:

1. the ``data_dir`` argument, then 2. ``$MNIST_DATA_DIR``: a directory that must already
   hold the four files; nothing is ever downloaded into it;
3. the cache directory (``cache_dir`` or :func:`default_cache_dir`): a file missing there
   is downloaded from :data:`MIRRORS` and kept only once its SHA-256 matches.

Every file is checked against its SHA-256 and its IDX header (magic number, count,
28x28 images) before any array is returned. Any failure raises :class:`MNISTDataError`
whose message names the file and says how to fix it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["OFFICIAL_SHA256", "MIRRORS", "MNISTDataError", "default_cache_dir", "load_mnist"]

OFFICIAL_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

# A mirror is a URL in which ``{name}`` stands for the file name; a mirror without
# ``{name}`` is a base URL and the file name is appended to it.
MIRRORS: tuple[str, ...] = (
    "https://github.com/rossbar/numpy-tutorial-data-mirror/blob/main/{name}?raw=true",
    "https://ossci-datasets.s3.amazonaws.com/mnist/{name}",
    "https://storage.googleapis.com/cvdf-datasets/mnist/{name}",
)

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
IMAGE_SIDE = 28


class MNISTDataError(RuntimeError):
    """An MNIST file is missing, corrupt, or could not be downloaded."""


@dataclass(frozen=True)
class _IdxFile:
    key: str
    name: str
    magic: int
    official_count: int

    @property
    def is_images(self) -> bool:
        return self.magic == IMAGES_MAGIC

    @property
    def header_size(self) -> int:
        return 16 if self.is_images else 8

    @property
    def item_size(self) -> int:
        return IMAGE_SIDE * IMAGE_SIDE if self.is_images else 1

    @property
    def kind(self) -> str:
        return "images" if self.is_images else "labels"


_FILES = (
    _IdxFile("training_images", "train-images-idx3-ubyte.gz", IMAGES_MAGIC, 60_000),
    _IdxFile("training_labels", "train-labels-idx1-ubyte.gz", LABELS_MAGIC, 60_000),
    _IdxFile("test_images", "t10k-images-idx3-ubyte.gz", IMAGES_MAGIC, 10_000),
    _IdxFile("test_labels", "t10k-labels-idx1-ubyte.gz", LABELS_MAGIC, 10_000),
)


@dataclass(frozen=True)
class _Location:
    """The directory the files come from, where that choice came from, and whether to download."""

    directory: Path
    origin: str
    downloads: bool
    instead: str = ""  # how to fall back to downloading, for a directory that never downloads

    def error(self, name: str, problem: str, fix: str | None = None) -> MNISTDataError:
        path = self.directory / name
        return MNISTDataError(f"MNIST file {name} ({path}): {problem}. Fix: {fix or self.fix(name)}")

    def fix(self, name: str) -> str:
        if self.downloads:
            return f"delete {self.directory / name} and run again to download a fresh copy"
        return (
            f"replace it with a good copy of {name}, "
            f"or {self.instead} so the files are downloaded and verified"
        )


def default_cache_dir() -> Path:
    """Where downloads are kept: ``$MNIST_CACHE_DIR``, else ``$XDG_CACHE_HOME/mnist-mlp-kit``,
    else ``~/.cache/mnist-mlp-kit``."""
    if explicit := os.environ.get("MNIST_CACHE_DIR"):
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "mnist-mlp-kit"


def load_mnist(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    train_count: int | None = None,
    test_count: int | None = None,
    checksums: Mapping[str, str] = OFFICIAL_SHA256,
    mirrors: Sequence[str] = MIRRORS,
    cache_dir: str | os.PathLike[str] | None = None,
) -> dict[str, np.ndarray]:
    """Load MNIST as uint8 arrays, verified against ``checksums`` and the IDX headers.

    Returns ``training_images`` (n, 784), ``training_labels`` (n,), ``test_images``
    (m, 784) and ``test_labels`` (m,), where n and m are ``train_count`` and
    ``test_count`` (the first images of each set; only those bytes are decompressed)
    or, when None, every image in the files (60,000 and 10,000 for the official ones).
    ``checksums`` maps each of the four file names to its SHA-256 (hex). Files are read
    from ``data_dir``, else ``$MNIST_DATA_DIR``, else the cache directory, where
    missing files are downloaded from ``mirrors`` (tried in order).

    Raises :class:`MNISTDataError` when a file is missing, corrupt, or cannot be
    downloaded, and ``ValueError`` for a negative count.
    """
    for label, count in (("train_count", train_count), ("test_count", test_count)):
        if count is not None and count < 0:
            raise ValueError(f"{label} must be >= 0 or None, got {count}")
    location = _locate(data_dir, cache_dir)
    arrays: dict[str, np.ndarray] = {}
    header_counts: dict[str, int] = {}
    for spec in _FILES:
        raw = _verified_bytes(spec.name, location, checksums, mirrors)
        official = checksums[spec.name].lower() == OFFICIAL_SHA256.get(spec.name)
        keep = train_count if spec.key.startswith("training_") else test_count
        arrays[spec.key], header_counts[spec.key] = _decode(raw, spec, keep, official, location)
    _check_pairs_agree(header_counts, location)
    return arrays


def _locate(data_dir: str | os.PathLike[str] | None, cache_dir: str | os.PathLike[str] | None) -> _Location:
    if data_dir is not None:
        location = _Location(
            Path(data_dir).expanduser(), "data_dir", False, "pass no data_dir (no --data-dir)"
        )
    elif env := os.environ.get("MNIST_DATA_DIR"):
        location = _Location(Path(env).expanduser(), "MNIST_DATA_DIR", False, "unset MNIST_DATA_DIR")
    else:
        directory = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        return _Location(directory, "the cache directory", True)
    if not location.directory.is_dir():
        raise MNISTDataError(
            f"MNIST directory {location.directory} (from {location.origin}) does not exist. "
            f"Fix: put the four MNIST files ({', '.join(f.name for f in _FILES)}) there, "
            f"or {location.instead} to download them into {default_cache_dir()}"
        )
    return location


def _verified_bytes(
    name: str, location: _Location, checksums: Mapping[str, str], mirrors: Sequence[str]
) -> bytes:
    """Return the whole compressed file, after checking its SHA-256; download it if allowed."""
    if name not in checksums:
        raise location.error(
            name, "no SHA-256 given for it in checksums", "pass a checksum for every MNIST file"
        )
    expected = checksums[name].lower()
    path = location.directory / name
    if not path.is_file():
        if not location.downloads:
            raise location.error(
                name,
                f"not found in {location.directory} (from {location.origin})",
                f"copy the official {name} there, or {location.instead} to download it",
            )
        from solutions._download import DownloadError, download  # requests, only when fetching

        try:
            download(name, location.directory, expected, mirrors)
        except DownloadError as exc:
            raise MNISTDataError(str(exc)) from None
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise location.error(name, f"cannot be read ({exc})") from exc
    actual = hashlib.sha256(raw).hexdigest()
    if actual != expected:
        raise location.error(name, f"SHA-256 is {actual}, expected {expected}")
    return raw


def _decode(
    raw: bytes, spec: _IdxFile, keep: int | None, official: bool, location: _Location
) -> tuple[np.ndarray, int]:
    """Decompress just enough of ``raw`` to return its first ``keep`` items (all when None).

    Returns the array, (keep, 784) images or (keep,) labels, and the count in the header.
    """
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as stream:
            count = _read_header(stream, spec, official, location)
            if keep is not None and keep > count:
                raise location.error(
                    spec.name,
                    f"{keep} {spec.kind} were asked for but the file holds {count}",
                    f"ask for at most {count}",
                )
            wanted = count if keep is None else keep
            body = _read_up_to(stream, wanted * spec.item_size)
            expected_size = spec.header_size + count * spec.item_size
            _check_length(raw, stream, spec.header_size + len(body), expected_size, spec, location)
    except (OSError, EOFError, zlib.error) as exc:
        raise location.error(spec.name, f"is truncated or not a valid gzip file ({exc})") from exc
    array = np.frombuffer(body, dtype=np.uint8)
    if spec.is_images:
        return array.reshape(wanted, IMAGE_SIDE * IMAGE_SIDE), count
    if array.size and array.max() > 9:
        raise location.error(spec.name, f"holds a label {array.max()}, outside 0-9")
    return array, count


def _read_header(stream: gzip.GzipFile, spec: _IdxFile, official: bool, location: _Location) -> int:
    """Check the IDX header of ``spec``'s file and return the item count it announces."""
    header = stream.read(spec.header_size)
    if len(header) < spec.header_size:
        raise location.error(spec.name, f"only {len(header)} bytes, too short for an IDX header")
    magic, count = struct.unpack(">II", header[:8])
    if magic != spec.magic:
        raise location.error(spec.name, f"IDX magic number is {magic}, expected {spec.magic} ({spec.kind})")
    if spec.is_images:
        rows, cols = struct.unpack(">II", header[8:16])
        if (rows, cols) != (IMAGE_SIDE, IMAGE_SIDE):
            raise location.error(spec.name, f"images are {rows}x{cols}, expected 28x28")
    if official and count != spec.official_count:
        raise location.error(
            spec.name,
            f"header announces {count} {spec.kind}, the official file has {spec.official_count}",
        )
    return count


def _read_up_to(stream: gzip.GzipFile, size: int) -> bytearray:
    """Read ``size`` decompressed bytes, fewer only at the end of the data.

    A bytearray (not bytes) makes the arrays built on it writable without a copy.
    """
    buffer = bytearray(size)
    filled = 0
    with memoryview(buffer) as view:
        while filled < size:
            chunk = stream.read(min(size - filled, 1 << 24))
            if not chunk:
                break
            view[filled : filled + len(chunk)] = chunk
            filled += len(chunk)
    del buffer[filled:]
    return buffer


def _check_length(
    raw: bytes,
    stream: gzip.GzipFile,
    consumed: int,
    expected: int,
    spec: _IdxFile,
    location: _Location,
) -> None:
    """Fail unless the decompressed file is exactly ``expected`` bytes long.

    The gzip trailer stores the decompressed length modulo 2**32, which confirms the
    length without decompressing the rest; only when it disagrees (a damaged or
    multi-member file) is the remainder decompressed and counted.
    """
    if len(raw) >= 4 and int.from_bytes(raw[-4:], "little") == expected % 2**32:
        return
    while chunk := stream.read(1 << 20):
        consumed += len(chunk)
    if consumed != expected:
        items = (consumed - spec.header_size) / spec.item_size
        raise location.error(
            spec.name,
            f"header announces {(expected - spec.header_size) // spec.item_size} {spec.kind} "
            f"({expected} bytes decompressed) but the file holds {consumed} bytes "
            f"({items:g} {spec.kind})",
        )


def _check_pairs_agree(header_counts: Mapping[str, int], location: _Location) -> None:
    for images, labels in (_FILES[0:2], _FILES[2:4]):
        n_images, n_labels = header_counts[images.key], header_counts[labels.key]
        if n_images != n_labels:
            raise location.error(
                labels.name,
                f"holds {n_labels} labels but {images.name} holds {n_images} images",
            )
