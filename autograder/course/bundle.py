"""What a worker of a cluster needs to grade an assignment, sent once and verified by SHA-256.

A bundle is a small course of its own: ``source/<assignment>/`` (notebook, visible checks
package, files beside it), the assignment's module ``solutions/<assignment>`` (reference and
checks; the course's own, else the kit's) and, when the batch's machine has them, the four MNIST
files (``mnist/``, each checked against its official SHA-256). Its digest covers every name and
content. A worker writes it once into a folder of its own named after the digest, reads every
file back and hashes it before grading anything; a damaged copy is never graded with.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from autograder.course.store import assignment_files

MNIST = "mnist"


class BundleError(Exception):
    """The bundle could not be written or did not read back as sent."""


def digest_of(contents: dict[str, bytes]) -> str:
    """SHA-256 over the names and contents, in name order."""
    digest = hashlib.sha256()
    for name in sorted(contents):
        digest.update(name.encode() + b"\0" + hashlib.sha256(contents[name]).digest())
    return digest.hexdigest()


def mnist_files() -> dict[str, bytes]:
    """The four MNIST files where the loader reads them (``$MNIST_DATA_DIR``, else its cache),
    each as its official SHA-256 says; empty when any is missing or differs (nothing is downloaded:
    workers then find MNIST as the loader does on their own machine)."""
    from solutions.data import OFFICIAL_SHA256, default_cache_dir

    folder = Path(os.environ.get("MNIST_DATA_DIR") or default_cache_dir())
    found = {}
    for name, sha256 in OFFICIAL_SHA256.items():
        try:
            content = (folder / name).read_bytes()
        except OSError:
            return {}
        if hashlib.sha256(content).hexdigest() != sha256:
            return {}
        found[f"{MNIST}/{name}"] = content
    return found


@dataclass(frozen=True)
class Bundle:
    """``files``: path in the bundle -> content; ``notebook``: the source notebook's path there."""

    assignment_id: str
    notebook: str
    files: dict[str, bytes]
    digest: str

    @classmethod
    def of_course(cls, course_root: Path, assignment_id: str, notebook_id: str,
                  with_mnist: bool = True) -> Bundle:
        found = assignment_files(course_root, assignment_id)
        files = {name: path.read_bytes() for name, path in found.items()}
        files |= mnist_files() if with_mnist else {}
        notebook = f"source/{assignment_id}/{notebook_id}.ipynb"
        if notebook not in files:
            raise BundleError(f"{notebook} is not in the course at {course_root}")
        return cls(assignment_id, notebook, files, digest_of(files))

    @property
    def has_mnist(self) -> bool:
        return any(name.startswith(f"{MNIST}/") for name in self.files)

    def materialise(self, folder: Path) -> Path:
        """The bundle as a folder of ``folder`` (written once per digest, reused after), every
        file read back and verified; ``BundleError`` when it does not match."""
        target = folder / f"bundle-{self.digest[:16]}"
        if target.is_dir() and self.verify(target):
            return target
        folder.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(target, ignore_errors=True)
        scratch = Path(tempfile.mkdtemp(prefix=".bundle-", dir=folder))
        try:
            for name, content in self.files.items():
                path = scratch / _safe(name)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
            if not self.verify(scratch):
                raise BundleError(f"the assignment's files did not read back as sent (SHA-256 {self.digest})")
            os.rename(scratch, target)
        except OSError as error:
            raise BundleError(f"the assignment's files could not be written into {folder}: {error}") from None
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return target

    def verify(self, root: Path) -> bool:
        """Whether the files under ``root`` hash to the bundle's digest."""
        try:
            contents = {name: (root / _safe(name)).read_bytes() for name in self.files}
        except OSError:
            return False
        return digest_of(contents) == self.digest


def _safe(name: str) -> PurePosixPath:
    """A relative path inside the bundle (never absolute, never through ``..``)."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise BundleError(f"{name!r} is not a path inside the bundle")
    return path
