"""Landlock (autograder/sandbox/landlock.py) on its own, applied in a throwaway process."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from autograder.sandbox import filesystem, landlock

ABI = landlock.abi_version()
PROBE = """
import json, os, socket, sys
def attempt(action):
    try:
        action()
        return 0
    except OSError as error:
        return error.errno
allowed, secret, scratch, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
print(json.dumps({
    "allowed": attempt(lambda: open(allowed).read()),
    "secret": attempt(lambda: open(secret).read()),
    "list_secret_folder": attempt(lambda: os.listdir(os.path.dirname(secret))),
    "write_scratch": attempt(lambda: open(os.path.join(scratch, "x"), "w").write("x")),
    "write_beside": attempt(lambda: open(secret + ".new", "w").write("x")),
    "signal_parent": attempt(lambda: os.kill(os.getppid(), 0)),
    "connect": attempt(lambda: socket.create_connection(("127.0.0.1", port), timeout=2)),
}))
"""


@pytest.mark.skipif(ABI < 1, reason="this kernel has no Landlock")
def test_only_the_rules_are_reachable(tmp_path):
    allowed, secret, scratch = tmp_path / "allowed.txt", tmp_path / "hidden" / "secret.txt", tmp_path / "work"
    allowed.write_text("ok")
    secret.parent.mkdir()
    secret.write_text("the answers")
    scratch.mkdir()
    rules = filesystem.allow_list()

    def restrict() -> None:
        landlock.restrict([*rules.readable, str(allowed)], [str(scratch)], rules.listable)

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        process = subprocess.run(
            [rules.interpreter, "-I", "-S", "-c", PROBE, str(allowed), str(secret), str(scratch),
             str(server.getsockname()[1])],
            preexec_fn=restrict,
            capture_output=True, text=True, timeout=60,
        )
    assert process.returncode == 0, process.stderr
    result = json.loads(process.stdout)
    assert result["allowed"] == 0 and result["write_scratch"] == 0
    assert result["secret"] == result["list_secret_folder"] == result["write_beside"] == 13  # EACCES
    if ABI >= 4:
        assert result["connect"] == 13
    if ABI >= 6:
        assert result["signal_parent"] == 1  # EPERM: out of the sandbox's domain


def test_handled_rights_grow_with_the_abi():
    assert landlock.handled_fs(1) < landlock.handled_fs(3) < landlock.handled_fs(7)
    assert landlock.handled_fs(4) == landlock.handled_fs(3)


def test_abi_is_reported_honestly():
    assert ABI >= 0
    if sys.platform == "linux" and ABI:
        assert landlock.abi_version() == ABI
