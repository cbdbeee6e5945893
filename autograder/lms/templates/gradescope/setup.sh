#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder image. It installs
# the grader's Python dependencies (pinned in requirements.txt) into a virtual environment
# and fetches MNIST into the image, verified by SHA-256, so that grading a submission never
# downloads anything.
#
# Gradescope's grader is a container's root without CAP_SYS_ADMIN: no minimal root for student
# code, whose files are then kept from it by Landlock and by running it as a user of its own.
# The sandbox gives it that user only when that user can read the interpreter, the standard
# library and NumPy. So the virtual environment is made from a Python under /usr, in a folder
# every user can read (AUTOGRADER_VENV, default /opt/autograder-venv, which $root/venv links
# to), with umask 022; and the last install step checks it with the sandbox's own test,
# failing the build when a path is closed to other users.
#
# Every path hangs off AUTOGRADER_ROOT (default /autograder), so this can be tried outside
# Gradescope. AUTOGRADER_SKIP_INSTALL=1 skips the installs and uses the python3 found on
# PATH (the kit's own tests do this); the check still runs, unless
# AUTOGRADER_SKIP_READABLE_CHECK=1 (student code may then run as the grader's user).
set -euo pipefail
umask 022

root="${AUTOGRADER_ROOT:-/autograder}"
source_dir="$root/source"
venv="${AUTOGRADER_VENV:-/opt/autograder-venv}"

python_is_recent() {
    "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null
}

find_python() {
    # Only a system Python: one on PATH may live under a folder of root's (pyenv, conda), and
    # what other users cannot read, the sandbox's user of its own cannot run.
    local candidate
    for candidate in /usr/bin/python3 /usr/bin/python3.13 /usr/bin/python3.12 /usr/bin/python3.11 \
        /usr/local/bin/python3 /usr/local/bin/python3.13 /usr/local/bin/python3.12 /usr/local/bin/python3.11; do
        if [ -x "$candidate" ] && python_is_recent "$candidate"; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q "$@"
}

make_venv() {
    # $1: the Python to make it from. Ubuntu's python3.X has no venv module without its
    # python3.X-venv package.
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    if ! "$1" -m venv "$venv"; then
        apt_install "$(basename "$1")-venv"
        rm -rf "$venv"
        "$1" -m venv "$venv"
    fi
    if [ "$venv" != "$root/venv" ]; then
        rm -rf "$root/venv"
        ln -s "$venv" "$root/venv"  # where run_autograder looks
    fi
}

install_packages() {
    local python
    # The kit needs Python >= 3.11. Ubuntu 22.04 ships 3.10 as python3 but has python3.11.
    python="$(find_python || { apt_install python3.11 python3.11-venv >&2 && find_python; })"
    echo "Python for grading: $python ($("$python" --version)), virtual environment $venv"
    make_venv "$python"
    "$venv/bin/python3" -m pip install --quiet --no-cache-dir -r "$source_dir/requirements.txt"
}

check_readable_by_others() {
    # The test the sandbox makes before it runs student code as a user of its own
    # (autograder.sandbox.layers), over the same allow-list, with the interpreter that grades.
    PYTHONPATH="$source_dir" python3 -c '
import os
import stat
import sys
from pathlib import Path

from autograder.sandbox.filesystem import allow_list, readable_by_others


def why_closed(path: str) -> str:
    """The first folder from / down that other users cannot enter, else the mode of path."""
    try:
        for folder in reversed(Path(path).parents):
            mode = folder.stat().st_mode
            if not mode & stat.S_IXOTH:
                return f"folder {folder} is {stat.filemode(mode)}"
        return f"mode {stat.filemode(os.stat(path).st_mode)}"
    except OSError as error:
        return error.strerror


allowed = allow_list()
paths = list(dict.fromkeys((allowed.interpreter, *allowed.readable)))
closed: dict[str, list[str]] = {}
for path in paths:
    if not readable_by_others(path):
        closed.setdefault(why_closed(path), []).append(path)
if closed:
    lines = [f"  {found[0]} ({reason})" + (f", and {len(found) - 1} more" if len(found) > 1 else "")
             for reason, found in closed.items()]
    sys.exit("\n".join([
        f"setup.sh: ERROR: other users cannot read the Python that grades ({sys.executable}):",
        *lines,
        "The sandbox runs student code as a user of its own only when that user can read the",
        "interpreter, the standard library and NumPy; without it, on Gradescope, student code runs",
        "as root (without capabilities, under Landlock and seccomp). Make the virtual environment",
        "from a Python under /usr (setup.sh does, unless AUTOGRADER_SKIP_INSTALL=1) in a folder",
        "every user can enter and read (AUTOGRADER_VENV), or, to grade that way all the same, set",
        "AUTOGRADER_SKIP_READABLE_CHECK=1.",
    ]))
print(f"Readable by every user: the interpreter, the standard library and NumPy ({len(paths)} paths):",
      "student code can run as a user of its own.")
'
}

if [ "${AUTOGRADER_SKIP_INSTALL:-0}" != 1 ]; then
    install_packages
fi
if [ -x "$root/venv/bin/python3" ]; then
    PATH="$root/venv/bin:$PATH"
fi
if [ "${AUTOGRADER_SKIP_READABLE_CHECK:-0}" != 1 ]; then
    check_readable_by_others
fi

# MNIST goes into $root/mnist through the kit's own loader: each file is downloaded from
# the first mirror that serves the right bytes and kept only once its SHA-256 matches.
# run_autograder points MNIST_DATA_DIR at that folder, where nothing is ever downloaded.
cd "$source_dir"
env -u MNIST_DATA_DIR PYTHONPATH="$source_dir" python3 -c '
import sys

from solutions.data import load_mnist

arrays = load_mnist(cache_dir=sys.argv[1])
shapes = ", ".join(f"{name} {array.shape}" for name, array in arrays.items())
print(f"MNIST verified in {sys.argv[1]}: {shapes}")
' "$root/mnist"
