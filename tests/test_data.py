"""Tests of solutions.data: offline, on tiny IDX files built here (plus one real-data check)."""

from __future__ import annotations

import gzip
import hashlib
import os
import socket
import struct
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import requests

from solutions import _download
from solutions.data import OFFICIAL_SHA256, MNISTDataError, default_cache_dir, load_mnist

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
NAMES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)
REAL_DATA_DIR = os.environ["MNIST_DATA_DIR"]  # found (or the session stopped) by conftest.py


def idx_images(images: np.ndarray, count: int | None = None, magic: int = 2051, side=28) -> bytes:
    """Uncompressed IDX bytes for uint8 images (n, 784); ``count`` overrides the header."""
    n = len(images) if count is None else count
    return struct.pack(">IIII", magic, n, side, side) + images.astype(np.uint8).tobytes()


def idx_labels(labels: np.ndarray, count: int | None = None, magic: int = 2049) -> bytes:
    """Uncompressed IDX bytes for uint8 labels (n,); ``count`` overrides the header."""
    n = len(labels) if count is None else count
    return struct.pack(">II", magic, n) + labels.astype(np.uint8).tobytes()


def tiny_arrays(n_train: int = 5, n_test: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20240229)
    return {
        "training_images": rng.integers(0, 256, (n_train, 784), dtype=np.uint8),
        "training_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 784), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }


def tiny_files(arrays: dict[str, np.ndarray]) -> dict[str, bytes]:
    """The four .gz files' bytes for ``arrays``, by official file name."""
    return {
        TRAIN_IMAGES: gzip.compress(idx_images(arrays["training_images"])),
        TRAIN_LABELS: gzip.compress(idx_labels(arrays["training_labels"])),
        TEST_IMAGES: gzip.compress(idx_images(arrays["test_images"])),
        TEST_LABELS: gzip.compress(idx_labels(arrays["test_labels"])),
    }


def sha256s(files: dict[str, bytes]) -> dict[str, str]:
    return {name: hashlib.sha256(content).hexdigest() for name, content in files.items()}


def write_files(directory: Path, files: dict[str, bytes]) -> dict[str, str]:
    """Write ``files`` into ``directory``; return their checksums."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (directory / name).write_bytes(content)
    return sha256s(files)


def load_with(tmp_path: Path, replace: dict[str, bytes], **kwargs) -> dict[str, np.ndarray]:
    """Load the tiny set with some files replaced, each with a matching checksum."""
    files = tiny_files(tiny_arrays()) | replace
    checksums = write_files(tmp_path / "mnist", files)
    return load_mnist(tmp_path / "mnist", checksums=checksums, **kwargs)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real data directory, a private cache, no proxies for 127.0.0.1, no retry pauses."""
    monkeypatch.delenv("MNIST_DATA_DIR", raising=False)
    monkeypatch.setenv("MNIST_CACHE_DIR", str(tmp_path / "default-cache"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setattr(_download, "_BACKOFF_SECONDS", 0.0)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the loader touched the network")

    monkeypatch.setattr(requests.sessions.Session, "request", refuse)


@pytest.fixture
def server() -> Iterator[SimpleNamespace]:
    """A real HTTP server on 127.0.0.1. ``routes`` maps a path to a list of answers
    ``(status, body)`` or ``(status, body, declared_length)``, given in turn (the last one
    repeats); ``seen`` lists the paths requested."""
    routes: dict[str, list[tuple]] = {}
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            answers = routes.get(self.path, [(404, b"not found")])
            status, body, *declared = answers.pop(0) if len(answers) > 1 else answers[0]
            self.send_response(status)
            self.send_header("Content-Length", str(declared[0] if declared else len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield SimpleNamespace(base=f"http://127.0.0.1:{httpd.server_port}", routes=routes, seen=seen)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def serve(server: SimpleNamespace, prefix: str, files: dict[str, bytes]) -> None:
    for name, content in files.items():
        server.routes[f"{prefix}/{name}"] = [(200, content)]


# --- reading local files -------------------------------------------------------------


def test_round_trip_values_shapes_and_dtypes(tmp_path: Path) -> None:
    arrays = tiny_arrays()
    checksums = write_files(tmp_path, tiny_files(arrays))
    loaded = load_mnist(tmp_path, checksums=checksums)
    assert set(loaded) == set(arrays)
    for key, expected in arrays.items():
        assert loaded[key].dtype == np.uint8
        assert loaded[key].shape == expected.shape
        np.testing.assert_array_equal(loaded[key], expected)


def test_counts_keep_the_first_images(tmp_path: Path) -> None:
    arrays = tiny_arrays()
    checksums = write_files(tmp_path, tiny_files(arrays))
    loaded = load_mnist(tmp_path, train_count=2, test_count=0, checksums=checksums)
    assert loaded["training_images"].shape == (2, 784)
    np.testing.assert_array_equal(loaded["training_images"], arrays["training_images"][:2])
    np.testing.assert_array_equal(loaded["training_labels"], arrays["training_labels"][:2])
    assert loaded["test_images"].shape == (0, 784)
    assert loaded["test_labels"].shape == (0,)


def test_asking_for_more_images_than_the_file_holds(tmp_path: Path) -> None:
    with pytest.raises(MNISTDataError, match=rf"{TEST_IMAGES}.*4 images were asked for.*holds 3"):
        load_with(tmp_path, {}, test_count=4)


def test_negative_count_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="train_count"):
        load_with(tmp_path, {}, train_count=-1)


def test_mnist_data_dir_is_used_and_network_never_touched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: None
) -> None:
    arrays = tiny_arrays()
    checksums = write_files(tmp_path / "env", tiny_files(arrays))
    monkeypatch.setenv("MNIST_DATA_DIR", str(tmp_path / "env"))
    cache = tmp_path / "cache"
    loaded = load_mnist(checksums=checksums, mirrors=(closed_port_url(),), cache_dir=cache)
    np.testing.assert_array_equal(loaded["test_labels"], arrays["test_labels"])
    assert not cache.exists()


def test_data_dir_argument_wins_over_mnist_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: None
) -> None:
    checksums = write_files(tmp_path / "given", tiny_files(tiny_arrays()))
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("MNIST_DATA_DIR", str(tmp_path / "empty"))
    assert load_mnist(tmp_path / "given", checksums=checksums)["training_images"].shape == (5, 784)


def test_missing_file_in_mnist_data_dir_is_an_error_not_a_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: None
) -> None:
    files = tiny_files(tiny_arrays())
    checksums = write_files(tmp_path, files)
    (tmp_path / TRAIN_LABELS).unlink()
    monkeypatch.setenv("MNIST_DATA_DIR", str(tmp_path))
    with pytest.raises(MNISTDataError) as caught:
        load_mnist(checksums=checksums)
    message = str(caught.value)
    assert TRAIN_LABELS in message
    assert "not found" in message
    assert "MNIST_DATA_DIR" in message


def test_missing_data_directory(tmp_path: Path, no_network: None) -> None:
    with pytest.raises(MNISTDataError, match="does not exist.*Fix: put the four MNIST files"):
        load_mnist(tmp_path / "nowhere")


@pytest.mark.parametrize("train_count", [None, 1])
def test_truncated_gzip(tmp_path: Path, train_count: int | None) -> None:
    truncated = gzip.compress(idx_images(tiny_arrays()["training_images"]))[:-30]
    with pytest.raises(MNISTDataError, match=rf"{TRAIN_IMAGES}.*truncated or not a valid gzip"):
        load_with(tmp_path, {TRAIN_IMAGES: truncated}, train_count=train_count)


def test_not_gzip_at_all(tmp_path: Path) -> None:
    plain = idx_labels(tiny_arrays()["test_labels"])
    with pytest.raises(MNISTDataError, match=rf"{TEST_LABELS}.*not a valid gzip"):
        load_with(tmp_path, {TEST_LABELS: plain})


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        (
            TRAIN_IMAGES,
            idx_images(np.zeros((5, 784)), magic=2049),
            "magic number is 2049, expected 2051",
        ),
        (TEST_LABELS, idx_labels(np.zeros(3), magic=2051), "magic number is 2051, expected 2049"),
    ],
)
def test_wrong_magic_number(tmp_path: Path, name: str, content: bytes, expected: str) -> None:
    with pytest.raises(MNISTDataError, match=rf"{name}.*{expected}"):
        load_with(tmp_path, {name: gzip.compress(content)})


def test_wrong_image_dimensions(tmp_path: Path) -> None:
    small = struct.pack(">IIII", 2051, 3, 27, 27) + bytes(3 * 27 * 27)
    with pytest.raises(MNISTDataError, match=rf"{TEST_IMAGES}.*27x27, expected 28x28"):
        load_with(tmp_path, {TEST_IMAGES: gzip.compress(small)})


def test_header_too_short(tmp_path: Path) -> None:
    with pytest.raises(MNISTDataError, match=rf"{TRAIN_LABELS}.*too short for an IDX header"):
        load_with(tmp_path, {TRAIN_LABELS: gzip.compress(b"\x00\x00\x08")})


@pytest.mark.parametrize("train_count", [None, 2])
def test_data_shorter_than_header(tmp_path: Path, train_count: int | None) -> None:
    images = tiny_arrays()["training_images"][:4]
    short = gzip.compress(idx_images(images, count=5))
    with pytest.raises(MNISTDataError, match=rf"{TRAIN_IMAGES}.*announces 5 images.*holds"):
        load_with(tmp_path, {TRAIN_IMAGES: short}, train_count=train_count)


def test_data_longer_than_header(tmp_path: Path) -> None:
    labels = tiny_arrays()["test_labels"]
    long = gzip.compress(idx_labels(labels, count=2))
    with pytest.raises(MNISTDataError, match=rf"{TEST_LABELS}.*announces 2 labels.*holds"):
        load_with(tmp_path, {TEST_LABELS: long})


def test_label_and_image_counts_must_agree(tmp_path: Path) -> None:
    four_labels = gzip.compress(idx_labels(tiny_arrays()["training_labels"][:4]))
    with pytest.raises(MNISTDataError, match=rf"{TRAIN_LABELS}.*4 labels.*{TRAIN_IMAGES}.*5 images"):
        load_with(tmp_path, {TRAIN_LABELS: four_labels}, train_count=2)


def test_labels_outside_0_to_9(tmp_path: Path) -> None:
    bad = gzip.compress(idx_labels(np.array([1, 2, 12])))
    with pytest.raises(MNISTDataError, match=rf"{TEST_LABELS}.*label 12"):
        load_with(tmp_path, {TEST_LABELS: bad})


def test_checksum_mismatch(tmp_path: Path) -> None:
    checksums = write_files(tmp_path, tiny_files(tiny_arrays()))
    checksums[TEST_IMAGES] = "0" * 64
    with pytest.raises(MNISTDataError) as caught:
        load_mnist(tmp_path, checksums=checksums)
    message = str(caught.value)
    assert TEST_IMAGES in message
    assert f"expected {'0' * 64}" in message
    assert "Fix: replace it with a good copy" in message


def test_official_checksum_demands_the_official_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = tiny_files(tiny_arrays())
    write_files(tmp_path, files)
    for name, digest in sha256s(files).items():
        monkeypatch.setitem(OFFICIAL_SHA256, name, digest)
    with pytest.raises(MNISTDataError, match=rf"{TRAIN_IMAGES}.*5 images.*official file has 60000"):
        load_mnist(tmp_path, train_count=1)


def test_checksums_must_cover_every_file(tmp_path: Path) -> None:
    checksums = write_files(tmp_path, tiny_files(tiny_arrays()))
    del checksums[TRAIN_LABELS]
    with pytest.raises(MNISTDataError, match=rf"{TRAIN_LABELS}.*no SHA-256"):
        load_mnist(tmp_path, checksums=checksums)


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MNIST_CACHE_DIR", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("MNIST_CACHE_DIR")
    assert default_cache_dir() == tmp_path / "xdg" / "mnist-mlp-kit"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "mnist-mlp-kit"


# --- downloading -----------------------------------------------------------------------


def test_download_verifies_caches_and_is_not_repeated(tmp_path: Path, server: SimpleNamespace) -> None:
    arrays = tiny_arrays()
    files = tiny_files(arrays)
    serve(server, "/good", files)
    cache = tmp_path / "cache"
    mirrors = (f"{server.base}/good/{{name}}",)

    loaded = load_mnist(checksums=sha256s(files), mirrors=mirrors, cache_dir=cache)
    for key, expected in arrays.items():
        np.testing.assert_array_equal(loaded[key], expected)
    assert sorted(server.seen) == sorted(f"/good/{name}" for name in NAMES)
    assert sorted(os.listdir(cache)) == sorted(NAMES)

    again = load_mnist(checksums=sha256s(files), mirrors=mirrors, cache_dir=cache)
    np.testing.assert_array_equal(again["training_images"], arrays["training_images"])
    assert len(server.seen) == 4


def test_default_cache_dir_is_used_when_nothing_else_is_given(
    tmp_path: Path, server: SimpleNamespace
) -> None:
    files = tiny_files(tiny_arrays())
    serve(server, "/m", files)
    load_mnist(checksums=sha256s(files), mirrors=(f"{server.base}/m",))
    assert sorted(os.listdir(tmp_path / "default-cache")) == sorted(NAMES)


def test_a_mirror_that_404s_is_skipped_without_retries(tmp_path: Path, server: SimpleNamespace) -> None:
    files = tiny_files(tiny_arrays())
    serve(server, "/second", files)
    mirrors = (f"{server.base}/first/", f"{server.base}/second")
    loaded = load_mnist(checksums=sha256s(files), mirrors=mirrors, cache_dir=tmp_path / "c")
    assert loaded["test_labels"].shape == (3,)
    assert sorted(p for p in server.seen if p.startswith("/first/")) == sorted(
        f"/first/{name}" for name in NAMES
    )


def test_a_server_error_is_retried(tmp_path: Path, server: SimpleNamespace) -> None:
    files = tiny_files(tiny_arrays())
    serve(server, "/flaky", files)
    server.routes[f"/flaky/{TRAIN_IMAGES}"] = [(503, b"busy"), (200, files[TRAIN_IMAGES])]
    load_mnist(checksums=sha256s(files), mirrors=(f"{server.base}/flaky",), cache_dir=tmp_path / "c")
    assert server.seen.count(f"/flaky/{TRAIN_IMAGES}") == 2


def test_corrupt_download_is_rejected_and_nothing_is_kept(tmp_path: Path, server: SimpleNamespace) -> None:
    files = tiny_files(tiny_arrays())
    checksums = sha256s(files)
    corrupt = dict(files)
    corrupt[TRAIN_IMAGES] = files[TRAIN_IMAGES][:-1] + bytes([files[TRAIN_IMAGES][-1] ^ 0xFF])
    serve(server, "/bad", corrupt)
    cache = tmp_path / "cache"
    with pytest.raises(MNISTDataError) as caught:
        load_mnist(checksums=checksums, mirrors=(f"{server.base}/bad",), cache_dir=cache)
    message = str(caught.value)
    assert TRAIN_IMAGES in message
    assert f"{server.base}/bad/{TRAIN_IMAGES}" in message
    assert f"expected {checksums[TRAIN_IMAGES]}" in message
    assert os.listdir(cache) == []


def test_an_interrupted_download_is_retried_and_never_kept(tmp_path: Path, server: SimpleNamespace) -> None:
    files = tiny_files(tiny_arrays())
    serve(server, "/cut", files)
    whole = files[TEST_IMAGES]
    server.routes[f"/cut/{TEST_IMAGES}"] = [(200, whole[:100], len(whole))]
    cache = tmp_path / "cache"
    with pytest.raises(MNISTDataError, match=rf"{TEST_IMAGES} could not be downloaded"):
        load_mnist(checksums=sha256s(files), mirrors=(f"{server.base}/cut",), cache_dir=cache)
    assert server.seen.count(f"/cut/{TEST_IMAGES}") == _download._ATTEMPTS_PER_MIRROR
    assert TEST_IMAGES not in os.listdir(cache)
    assert not [name for name in os.listdir(cache) if name.endswith(".part")]


def test_no_network_gives_one_clear_error(tmp_path: Path) -> None:
    mirrors = (closed_port_url(), closed_port_url() + "mnist/{name}")
    cache = tmp_path / "cache"
    with pytest.raises(MNISTDataError) as caught:
        load_mnist(checksums=sha256s(tiny_files(tiny_arrays())), mirrors=mirrors, cache_dir=cache)
    message = str(caught.value)
    assert f"MNIST file {TRAIN_IMAGES} could not be downloaded" in message
    for mirror in mirrors:
        assert _download._mirror_url(mirror, TRAIN_IMAGES) in message
    assert "check the network connection" in message
    assert "MNIST_DATA_DIR" in message
    assert os.listdir(cache) == []


# --- the real files (conftest.py finds them or stops the session) ------------------------


def test_real_mnist(monkeypatch: pytest.MonkeyPatch, no_network: None) -> None:
    monkeypatch.setenv("MNIST_DATA_DIR", str(REAL_DATA_DIR))
    full = load_mnist()
    assert full["training_images"].shape == (60_000, 784)
    assert full["training_labels"].shape == (60_000,)
    assert full["test_images"].shape == (10_000, 784)
    assert full["test_labels"].shape == (10_000,)
    assert all(array.dtype == np.uint8 for array in full.values())
    assert full["training_labels"][0] == 5
    assert full["test_labels"][0] == 7
    assert full["training_images"].max() == 255

    first = load_mnist(train_count=1_000, test_count=1_000)
    for key, array in first.items():
        np.testing.assert_array_equal(array, full[key][:1_000])
