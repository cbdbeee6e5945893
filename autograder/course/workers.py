"""The workers' side of grading on a Dask cluster (imported only there, and by the batch that
uses one).

``GradingPlugin`` reaches every worker once, new workers included: it carries the assignment's
``bundle.Bundle``, which the worker writes into its own folder and verifies, probes which
isolation layers its host allows, and starts grading servers (``servers.GradingServers``: a
Dask worker is daemonic, so its grading processes come from an ordinary child). A worker whose
host cannot hide the reference from student code, or whose bundle did not verify, grades
nothing: every task it gets says why, and the batch records a grader error, never a grade.

``grade_on_worker`` is the task: one notebook's bytes in, the grading server's verdict out,
with what the batch checks before trusting it (the SHA-256 of what was graded, the bundle's
digest, the grader's version) and the worker's own isolation report.
"""

from __future__ import annotations

import hashlib
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any

from distributed import WorkerPlugin, get_worker

from autograder.course.bundle import MNIST, Bundle, BundleError
from autograder.course.servers import GradingServers
from autograder.course.store import grader_version
from autograder.sandbox import Limits, detect, refusal

PREFIX, OWNER = "autograder-", "--"


class GradingPlugin(WorkerPlugin):
    """One assignment's bundle and grading settings, set up on every worker."""

    def __init__(self, bundle: Bundle, entry: str, allow_unisolated: bool, owner: str = "") -> None:
        self.bundle, self.entry, self.allow_unisolated, self.owner = bundle, entry, allow_unisolated, owner
        self.problem, self.root, self.servers = "", Path(), None
        self.report: dict[str, Any] = {}

    @property
    def name(self) -> str:
        """What it holds, and the batch (Dask client) it is for: two batches on one cluster each
        have their own, and a batch that died leaves one the next batch removes (``OWNER``)."""
        settings = hashlib.sha256(f"{self.entry}\0{self.allow_unisolated}".encode()).hexdigest()
        what = f"{self.bundle.assignment_id}-{self.bundle.digest[:12]}-{settings[:8]}"
        return f"{PREFIX}{what}{OWNER}{self.owner}"

    def setup(self, worker: Any) -> None:
        layers = detect()
        host = socket.gethostname()
        self.report = {"address": worker.address, "host": host, **layers.report(), "probe": layers.summary()}
        if not layers.hides_files and not self.allow_unisolated:
            self.problem = f"worker {worker.address} on {host} refuses to grade: {refusal(layers)}"
            return
        try:
            self.root = self.bundle.materialise(Path(worker.local_directory) / "autograder")
        except BundleError as error:
            self.problem = f"worker {worker.address} on {host}: {error}"
            return
        env = {"MNIST_DATA_DIR": str(self.root / MNIST)} if self.bundle.has_mnist else {}
        warm = f"{self.root}::{self.bundle.assignment_id}"
        self.servers = GradingServers(self.entry, warm, env, limit=worker.state.nthreads)
        self.servers.warm(worker.state.nthreads)

    def teardown(self, worker: Any) -> None:
        if self.servers is not None:
            self.servers.close()


def grade_on_worker(plugin_name: str, file_name: str, content: bytes, sha256: str, limits: dict[str, Any],
                    allow_unisolated: bool) -> dict[str, Any]:
    """Grade one notebook (``content``, saved as ``file_name``) on this worker: ``{"result",
    "problem", "seconds"}`` as a grading server says, with ``worker`` (its isolation report),
    ``sha256`` (of what was graded), ``bundle`` and ``grader`` (the versions it graded with)."""
    plugin = get_worker().plugins.get(plugin_name)
    verdict = {"result": None, "seconds": 0.0, "sha256": hashlib.sha256(content).hexdigest(),
               "grader": grader_version(), "bundle": "", "worker": {}}
    if not isinstance(plugin, GradingPlugin):
        return verdict | {"problem": f"this worker has not got the assignment ({plugin_name})"}
    verdict |= {"bundle": plugin.bundle.digest, "worker": plugin.report}
    if plugin.problem or plugin.servers is None:
        return verdict | {"problem": plugin.problem or "this worker has no grading server"}
    if verdict["sha256"] != sha256:
        return verdict | {"problem": "the notebook arrived damaged (its SHA-256 differs)"}
    scratch = plugin.root.parent / "grading"
    scratch.mkdir(exist_ok=True)
    private = Path(tempfile.mkdtemp(dir=scratch))
    try:
        notebook = private / file_name
        notebook.write_bytes(content)
        source = plugin.root / plugin.bundle.notebook
        reply = plugin.servers.grade(notebook, scratch, source, Limits(**limits), plugin.root,
                                     allow_unisolated)
    finally:
        shutil.rmtree(private, ignore_errors=True)
    if "error" in reply:
        return verdict | {"problem": f"the grading server failed: {reply['error']}"}
    return verdict | reply
