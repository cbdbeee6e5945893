"""Grading on a Dask cluster: the batch's client and its engine.

``--scheduler ADDRESS`` connects to a running cluster (started by hand, by dask-kubernetes, by
dask-gateway: an address is all the kit needs); ``--cluster local`` starts a ``LocalCluster`` on
this machine and ``--cluster slurm`` a dask-jobqueue ``SLURMCluster`` whose workers are SLURM
jobs. Dask is imported here only, so a batch without these options never imports it.

The engine sends the assignment to the workers once (``workers.GradingPlugin``), then each
notebook as one task, keyed by what decides its grade (the bundle, the grading settings, the
file name and SHA-256): the scheduler gives a task whose worker died to another worker. The
batch's process stays the only writer of records, gradebook, pages and report; it trusts a
worker's verdict only when the SHA-256 of what was graded, the bundle's digest and the grader's
version are its own.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import threading
from pathlib import Path
from typing import Any

from autograder.course import processes
from autograder.course.bundle import Bundle
from autograder.course.processes import GraderRun
from autograder.course.store import grader_version
from autograder.sandbox import Limits

INSTALL = "grading on a cluster needs Dask: pip install 'mnist-mlp-kit[cluster]'"
TASKS_PER_THREAD = 2  # submissions in flight per worker thread: the next one is there when one ends


class ClusterError(Exception):
    """No cluster to grade on (Dask missing, the scheduler unreachable, a bad option)."""


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("grading on a Dask cluster (pip install 'mnist-mlp-kit[cluster]')")
    where = group.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="grade on the running Dask cluster of this scheduler (tcp://host:8786)")
    where.add_argument("--cluster", choices=("local", "slurm"),
                       help="start a cluster for this batch: a LocalCluster, or a SLURMCluster "
                       "(dask-jobqueue)")
    group.add_argument("--workers", type=int, default=0, metavar="N",
                       help="with --cluster: worker processes (local: default the number of cores; slurm: "
                       "SLURM jobs, one worker each, default 1)")
    group.add_argument("--worker-cores", type=int, default=1, metavar="C",
                       help="with --cluster: submissions each worker grades at once (threads; a SLURM job "
                       "asks for this many cores; default 1)")
    group.add_argument("--worker-memory", default="", metavar="SIZE",
                       help="with --cluster: memory of each worker, e.g. 4GiB (local default: the machine's "
                       "share; slurm default 4GiB); the student process's limit stays --memory")
    group.add_argument("--cluster-option", action="append", default=[], metavar="KEY=VALUE",
                       help="with --cluster slurm: a SLURMCluster option (queue=short, walltime=01:00:00, "
                       "account=cs101; a JSON value for lists); repeatable")


def cluster_options(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs as keyword arguments: JSON values where they parse, else strings."""
    options = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key.isidentifier():
            raise ClusterError(f"--cluster-option wants KEY=VALUE, not {pair!r}")
        try:
            options[key] = json.loads(value)
        except ValueError:
            options[key] = value
    return options


def start_cluster(args: argparse.Namespace, cores: int) -> tuple[Any, int]:
    """The cluster ``--cluster`` asks for, and the worker threads it will have."""
    workers = args.workers or (cores if args.cluster == "local" else 1)
    if args.cluster == "local":
        from distributed import LocalCluster

        memory = args.worker_memory or "auto"
        cluster = LocalCluster(n_workers=workers, threads_per_worker=args.worker_cores, processes=True,
                               memory_limit=memory, dashboard_address=None)
        return cluster, workers * args.worker_cores
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError:
        raise ClusterError(f"--cluster slurm needs dask-jobqueue: {INSTALL}") from None
    options = {"processes": 1, "memory": args.worker_memory or "4GiB", **cluster_options(args.cluster_option)}
    cluster = SLURMCluster(cores=args.worker_cores, **options)
    cluster.scale(jobs=workers)
    return cluster, workers * args.worker_cores


class DaskEngine:
    """Grades on a Dask cluster (``grading.Engine``)."""

    def __init__(self, client: Any, cluster: Any, bundle: Bundle, limits: Limits, allow_unisolated: bool,
                 threads: int) -> None:
        from autograder.course.workers import GradingPlugin

        self.client, self.cluster, self.bundle = client, cluster, bundle
        self.limits, self.allow_unisolated = limits, allow_unisolated
        self.capacity = max(TASKS_PER_THREAD * threads, 2)
        self.stopping = False
        self._running: set[Any] = set()
        self._lock = threading.Lock()
        remove_abandoned_plugins(client)
        plugin = GradingPlugin(bundle, processes.ENTRY, allow_unisolated, owner=client.id)
        self.plugin = plugin.name
        client.register_plugin(plugin)

    @classmethod
    def start(cls, args: argparse.Namespace, bundle: Bundle, limits: Limits, cores: int) -> DaskEngine:
        """Connect to ``--scheduler``, or start ``--cluster``; ``ClusterError`` when neither works."""
        try:
            from distributed import Client
        except ImportError:
            raise ClusterError(INSTALL) from None
        cluster, threads = start_cluster(args, cores) if args.cluster else (None, 0)
        try:
            client = Client(cluster if cluster is not None else args.scheduler, timeout="60s")
        except Exception as error:  # noqa: BLE001 - unreachable, refused, a malformed address: say which
            if cluster is not None:
                cluster.close()
            raise ClusterError(f"cannot reach the Dask scheduler {args.scheduler or ''}: {error}") from None
        try:
            if cluster is None:
                threads = sum(w["nthreads"] for w in client.scheduler_info()["workers"].values())
            return cls(client, cluster, bundle, limits, args.allow_unisolated, max(threads, cores))
        except Exception as error:  # noqa: BLE001 - leave nothing running behind
            client.close()
            if cluster is not None:
                cluster.close()
            raise ClusterError(f"the cluster would not take the assignment: {_why(error)}") from None

    def key(self, file_name: str, sha256: str) -> str:
        """The task's key: what decides the grade (and this batch's plugin), so that students who
        handed in the same bytes under the same name share one grading."""
        what = json.dumps([self.plugin, file_name, sha256, vars(self.limits), self.allow_unisolated])
        return f"autograder-grade-{hashlib.sha256(what.encode()).hexdigest()[:40]}"

    def grade(self, notebook: Path, scratch: Path) -> GraderRun:
        from autograder.course.workers import grade_on_worker

        content = notebook.read_bytes()
        sha256 = hashlib.sha256(content).hexdigest()
        with self._lock:
            if self.stopping:
                return GraderRun(None, "interrupted", 0.0)
            future = self.client.submit(grade_on_worker, self.plugin, notebook.name, content, sha256,
                                        vars(self.limits), self.allow_unisolated,
                                        key=self.key(notebook.name, sha256), retries=0)
            self._running.add(future)
        try:
            # A copy: students who handed in the same bytes share one task, and its result object.
            verdict = copy.deepcopy(future.result())
        except Exception as error:  # noqa: BLE001 - a cluster's failure costs this submission a grading
            problem = "interrupted" if self.stopping else f"the cluster could not grade it ({_why(error)})"
            return GraderRun(None, problem, 0.0)
        finally:
            with self._lock:
                self._running.discard(future)
        return trusted(verdict, sha256, self.bundle.digest)

    def stop(self) -> None:
        """Start nothing more; cancel what is in flight (its threads then say "interrupted")."""
        with self._lock:
            self.stopping, running = True, list(self._running)
        if running:
            self.client.cancel(running)

    def close(self) -> None:
        """Leave the cluster as found: the plugin removed, the client closed, a cluster we started ended."""
        try:
            self.client.unregister_worker_plugin(self.plugin)
        except Exception:  # noqa: BLE001, S110 - the workers may be gone already
            pass
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def remove_abandoned_plugins(client: Any) -> list[str]:
    """Remove the grading plugins of batches that are gone (killed before they could remove their
    own), with their grading servers; the names removed."""
    from autograder.course.workers import OWNER, PREFIX

    def abandoned(dask_scheduler: Any, prefix: str, owner: str) -> list[str]:  # runs on the scheduler
        return [name for name in dask_scheduler.worker_plugins
                if name.startswith(prefix) and name.rpartition(owner)[2] not in dask_scheduler.clients]

    names = client.run_on_scheduler(abandoned, prefix=PREFIX, owner=OWNER)
    for name in names:
        client.unregister_worker_plugin(name)
    return names


def trusted(verdict: dict[str, Any], sha256: str, bundle: str) -> GraderRun:
    """A worker's verdict as a ``GraderRun``, if it graded these very bytes (``sha256``) with this
    bundle and this grader; else a grader error saying which differs."""
    seconds = float(verdict.get("seconds") or 0.0)
    host = verdict.get("worker", {}).get("host") or "a worker"
    if not verdict.get("problem"):
        for what, theirs, ours in (("notebook", verdict.get("sha256"), sha256),
                                   ("assignment", verdict.get("bundle"), bundle),
                                   ("grader", verdict.get("grader"), grader_version())):
            if theirs != ours:
                return GraderRun(None, f"{host} graded another version of the {what} than this batch's; "
                                 "every worker needs the same version of the kit", seconds)
    result = verdict.get("result")
    if result is None:
        return GraderRun(None, verdict.get("problem") or "the worker gave no result", seconds)
    result.setdefault("extra_data", {})["worker"] = verdict["worker"]
    return GraderRun(result, "", seconds)


def _why(error: BaseException) -> str:
    name = type(error).__name__
    if name == "KilledWorker":
        return "every worker that took it died; it is tried again by the next run"
    return f"{name}: {str(error)[:300]}"
