"""Which layers a host allows, and how the grader says so (autograder/sandbox/layers.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from autograder.sandbox import Layers, refusal

REPORT = "import json; from autograder.sandbox import detect; print(json.dumps(detect().report()))"


def test_a_dropped_layer_is_reported_with_its_reason(every_layer):
    dropped = every_layer.without("cgroup", "no writable cgroup tree")
    assert not dropped.cgroup and dropped.missing["cgroup"] == "no writable cgroup tree"
    assert "cgroup" not in dropped.used() and "missing: cgroup (no writable cgroup tree)" in dropped.summary()
    assert dropped.hides_files == every_layer.hides_files


def test_files_are_hidden_by_either_namespaces_or_landlock():
    assert Layers(namespaces=True).hides_files and Layers(landlock_abi=1).hides_files
    assert not Layers(seccomp=True, own_uid=True, cgroup=True).hides_files


def test_the_refusal_says_why_and_what_to_do():
    text = refusal(Layers(missing={"namespaces": "not root", "landlock": "Linux 5.4"}))
    assert "namespaces: not root" in text and "landlock: Linux 5.4" in text
    assert "--allow-unisolated" in text and "Linux 5.13" in text


def test_turning_isolation_off_leaves_only_the_limits():
    env = dict(os.environ, AUTOGRADER_NO_ISOLATION="1")
    process = subprocess.run([sys.executable, "-c", REPORT], capture_output=True, text=True, env=env,
                             timeout=60)
    report = json.loads(process.stdout)
    assert report["layers"] == ["rlimits"] and report["hides_files"] is False
    assert set(report["missing"]) == {"namespaces", "own uid", "landlock", "seccomp", "cgroup"}
