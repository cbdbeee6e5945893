#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder image. It installs
# the grader's Python dependencies (pinned in requirements.txt) into a virtual environment
# and fetches MNIST into the image, verified by SHA-256, so that grading a submission never
# downloads anything.
#
# Every path hangs off AUTOGRADER_ROOT (default /autograder), so this can be tried outside
# Gradescope. AUTOGRADER_SKIP_INSTALL=1 skips the installs and uses the python3 found on
# PATH (the kit's own tests do this).
set -euo pipefail

root="${AUTOGRADER_ROOT:-/autograder}"
source_dir="$root/source"
venv="$root/venv"

python_is_recent() {
    "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null
}

find_python() {
    local candidate
    for candidate in python3 python3.13 python3.12 python3.11; do
        if command -v "$candidate" >/dev/null && python_is_recent "$candidate"; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

install_python() {
    # The kit needs Python >= 3.11. Ubuntu 22.04 ships 3.10 as python3 but has python3.11.
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q python3.11 python3.11-venv
}

install_packages() {
    local python
    python="$(find_python || { install_python >&2 && find_python; })"
    echo "Python for grading: $python ($("$python" --version))"
    # A virtual environment: no clash with Ubuntu's own packages ("externally managed").
    if ! "$python" -m venv "$venv"; then
        # Ubuntu's python3.X has no venv module without its python3.X-venv package.
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        apt-get install -y -q "$(basename "$python")-venv"
        "$python" -m venv "$venv"
    fi
    "$venv/bin/python3" -m pip install --quiet --no-cache-dir -r "$source_dir/requirements.txt"
}

if [ "${AUTOGRADER_SKIP_INSTALL:-0}" != 1 ]; then
    install_packages
fi
if [ -x "$venv/bin/python3" ]; then
    PATH="$venv/bin:$PATH"
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
