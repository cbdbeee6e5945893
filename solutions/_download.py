"""Download one MNIST file from the first mirror that serves the right bytes (``solutions.data``'s
fetching half): a few attempts per mirror with backoff, the body streamed as sent into a
temporary file that becomes the file only once its SHA-256 matches."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import requests
import urllib3
from tqdm import tqdm

_ATTEMPTS_PER_MIRROR = 3
_BACKOFF_SECONDS = 1.0
_TIMEOUT_SECONDS = (10.0, 60.0)  # (connect, read)
_CHUNK_BYTES = 1 << 16
_USER_AGENT = "mnist-mlp-kit (+https://github.com/numpy/numpy-tutorials)"


class DownloadError(RuntimeError):
    """No mirror served the file; the message names it, the mirrors tried and the fix."""


def _mirror_url(mirror: str, name: str) -> str:
    if "{name}" in mirror:
        return mirror.replace("{name}", name)
    return f"{mirror.rstrip('/')}/{name}"


def download(name: str, directory: Path, sha256: str, mirrors: Sequence[str]) -> None:
    """Fetch ``name`` into ``directory`` from the first mirror that serves the right bytes."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(
            f"MNIST file {name}: cannot create the cache directory {directory} ({exc}). "
            "Fix: set MNIST_CACHE_DIR to a writable directory, or set MNIST_DATA_DIR to a "
            "directory holding the four files"
        ) from exc
    failures = []
    for mirror in mirrors:
        url = _mirror_url(mirror, name)
        try:
            _fetch_with_retries(url, name, directory, sha256)
            return
        except (requests.RequestException, _WrongBytes) as exc:
            failures.append(f"  {url}: {_reason(exc)}")
    tried = "\n".join(failures) or "  (no mirrors given)"
    raise DownloadError(
        f"MNIST file {name} could not be downloaded into {directory}; mirrors tried:\n{tried}\n"
        "Fix: check the network connection, or download the four files yourself and "
        "set MNIST_DATA_DIR to their directory"
    )


def _reason(exc: Exception) -> str:
    """The useful part of a download error; requests buries the OS error in pool details."""
    text = str(exc)
    os_error = re.search(r"\[Errno -?\d+\][^'\")]*", text)
    if isinstance(exc, requests.ConnectionError) and os_error:
        return f"cannot connect: {os_error.group(0).strip()}"
    return text


class _WrongBytes(Exception):
    """A mirror served a file whose SHA-256 is not the expected one."""


def _fetch_with_retries(url: str, name: str, directory: Path, sha256: str) -> None:
    for attempt in range(_ATTEMPTS_PER_MIRROR):
        try:
            _fetch(url, name, directory, sha256)
            return
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if (status < 500 and status != 429) or attempt == _ATTEMPTS_PER_MIRROR - 1:
                raise
        except (requests.ConnectionError, requests.Timeout):
            if attempt == _ATTEMPTS_PER_MIRROR - 1:
                raise
        time.sleep(_BACKOFF_SECONDS * 2**attempt)


def _fetch(url: str, name: str, directory: Path, sha256: str) -> None:
    """Stream ``url`` into a temporary file; move it to ``directory/name`` only if it verifies."""
    headers = {"User-Agent": _USER_AGENT}
    with requests.get(url, stream=True, timeout=_TIMEOUT_SECONDS, headers=headers) as response:
        response.raise_for_status()
        total = int(response.headers.get("Content-Length") or 0) or None
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".part")
        try:
            digest = hashlib.sha256()
            with (
                os.fdopen(fd, "wb") as out,
                # disable=None: no bar when stderr is not a terminal (a log would get its fragments)
                tqdm(total=total, unit="B", unit_scale=True, desc=name, disable=None) as bar,
            ):
                for chunk in _raw_chunks(response):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
            if digest.hexdigest() != sha256:
                raise _WrongBytes(f"served bytes with SHA-256 {digest.hexdigest()}, expected {sha256}")
            os.replace(temporary, directory / name)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise


def _raw_chunks(response: requests.Response) -> Iterator[bytes]:
    """Yield the body exactly as sent, mapping urllib3's errors to requests' ones.

    The body is not decoded: a server that labels a stored .gz as Content-Encoding: gzip
    must still give us the .gz bytes the checksum is about.
    """
    try:
        yield from response.raw.stream(_CHUNK_BYTES, decode_content=False)
    except urllib3.exceptions.HTTPError as exc:
        raise requests.ConnectionError(f"transfer interrupted ({exc})") from exc
