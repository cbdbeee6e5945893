"""The seccomp filter (autograder/sandbox/seccomp.py), built and installed in a throwaway process."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.sandbox import seccomp

MODULE = Path(seccomp.__file__)
INSTALLED = """
import json, os, signal, socket, subprocess, sys, threading
sys.path.insert(0, sys.argv[1])
import seccomp
seccomp.install()

def attempt(action):
    try:
        action()
        return 0
    except OSError as error:
        return error.errno

out = []
worker = threading.Thread(target=lambda: out.append(sum(range(10))))
worker.start()
worker.join()
print(json.dumps({
    "fork": attempt(os.fork),
    "spawn": attempt(lambda: subprocess.run(["/bin/true"])),
    "exec": attempt(lambda: os.execv("/bin/true", ["true"])),
    "kill_parent": attempt(lambda: os.kill(os.getppid(), 0)),
    "kill_all": attempt(lambda: os.kill(-1, 0)),
    "kill_self": attempt(lambda: os.kill(os.getpid(), 0)),
    "socket": attempt(socket.socket),
    "unshare": attempt(lambda: os.unshare(0)) if hasattr(os, "unshare") else 1,
    "thread": out,
}))
"""


def test_the_program_checks_the_architecture_first():
    program = seccomp.build_filter(own_pid=1234, machine="x86_64")
    code, _, _, k = struct.unpack_from("=HBBI", program, 0)
    assert (code, k) == (seccomp.BPF_LD_W_ABS, seccomp.ARCH_OFFSET)
    _, jt, jf, arch = struct.unpack_from("=HBBI", program, 8)
    assert arch == seccomp.ARCHES["x86_64"][0] and (jt, jf) == (1, 0)
    assert struct.unpack_from("=HBBI", program, 16)[3] == seccomp.RET_KILL_PROCESS
    assert struct.unpack_from("=HBBI", program, len(program) - 8)[3] == seccomp.RET_ALLOW
    assert len(program) % 8 == 0 and len(program) // 8 < 4096  # the kernel's limit


@pytest.mark.parametrize("machine", sorted(seccomp.ARCHES))
def test_the_own_pid_is_compared_for_every_signal_call(machine):
    program = seccomp.build_filter(own_pid=4242, machine=machine)
    constants = [struct.unpack_from("=HBBI", program, i)[3] for i in range(0, len(program), 8)]
    assert constants.count(4242) == len(seccomp.SIGNAL_SELF)


@pytest.mark.skipif(not seccomp.supported(), reason="seccomp filters are for Linux on x86-64 or AArch64")
def test_installed_filter_denies_processes_exec_signals_sockets_but_not_threads(tmp_path):
    (tmp_path / "seccomp.py").write_bytes(MODULE.read_bytes())
    process = subprocess.run([sys.executable, "-I", "-c", INSTALLED, str(tmp_path)], capture_output=True,
                             text=True, timeout=60)
    assert process.returncode == 0, process.stderr
    result = json.loads(process.stdout)
    denied = {key: value for key, value in result.items() if key not in ("kill_self", "thread")}
    assert set(denied.values()) == {1}, result  # EPERM each
    assert result["kill_self"] == 0 and result["thread"] == [45]


def test_the_module_needs_only_the_standard_library():
    """It is copied into the sandbox, where nothing of the kit can be imported."""
    source = MODULE.read_text()
    imports = {line.split()[1].split(".")[0] for line in source.splitlines()
               if line.startswith(("import ", "from ")) and "__future__" not in line}
    assert imports <= set(sys.stdlib_module_names)
