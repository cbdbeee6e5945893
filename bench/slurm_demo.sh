#!/usr/bin/env bash
# The demo class graded on a real SLURM cluster of one machine, through `batch --cluster slurm`.
#
# Starts munged, slurmctld and slurmd (Debian's munge and slurm-wlm: `apt-get install slurm-wlm
# munge`) with a slurm.conf of one node written into a scratch folder, builds the demo class
# (scripts/make_demo_class.py), grades it with `python -m autograder batch mnist_mlp --cluster
# slurm` (dask-jobqueue submits the workers as SLURM jobs) and, for comparison, with the local
# batch on a copy; prints both gradebooks' totals and whether they agree; stops every daemon it
# started. Needs root (the daemons, and the sandbox's layers) and a few minutes. Exit status 0
# when SLURM graded the class to the gradebook the local batch writes.
#
#   sudo bench/slurm_demo.sh            # or: make test-slurm
#   WORKERS=2 CORES=1 KEEP=1 bench/slurm_demo.sh   # KEEP=1 keeps the scratch folder and logs
set -euo pipefail

KIT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PY:-$KIT/.venv/bin/python}
WORKERS=${WORKERS:-2}
CORES=${CORES:-1}
WORK=$(mktemp -d /tmp/autograder-slurm-XXXXXX)
HOST=$(hostname -s)
export SLURM_CONF=$WORK/etc/slurm.conf
export JUPYTER_CONFIG_DIR=$WORK/jupyter/config JUPYTER_DATA_DIR=$WORK/jupyter/data IPYTHONDIR=$WORK/ipython
export PATH="$(dirname "$PY"):$PATH" MPLBACKEND=Agg

[ "$(id -u)" -eq 0 ] || { echo "slurm_demo: needs root (munged, slurmctld, slurmd)" >&2; exit 4; }
for daemon in munged slurmctld slurmd sbatch; do
    command -v "$daemon" >/dev/null || { echo "slurm_demo: no $daemon: apt-get install slurm-wlm munge" >&2; exit 4; }
done

PIDS=()
stop() {
    scancel --user=root 2>/dev/null || true
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    done
    if [ -z "${KEEP:-}" ]; then rm -rf "$WORK"; else echo "slurm_demo: kept $WORK"; fi
}
trap stop EXIT

mkdir -p "$WORK"/{etc,spool/ctld,spool/d,log,run,munge,jupyter,ipython}
chmod 755 "$WORK"  # munged runs as the munge user
MEMORY=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
cat > "$SLURM_CONF" <<EOF
ClusterName=autograder
SlurmctldHost=$HOST
AuthType=auth/munge
CryptoType=crypto/munge
SlurmUser=root
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$WORK/spool/ctld
SlurmdSpoolDir=$WORK/spool/d
SlurmctldPidFile=$WORK/run/slurmctld.pid
SlurmdPidFile=$WORK/run/slurmd.pid
SlurmctldLogFile=$WORK/log/slurmctld.log
SlurmdLogFile=$WORK/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MpiDefault=none
NodeName=$HOST CPUs=$(nproc) RealMemory=$MEMORY State=UNKNOWN
PartitionName=batch Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF

# munged of its own: its socket, key copy and logs in the scratch folder, run as the munge user.
cp /etc/munge/munge.key "$WORK/munge/munge.key"
chown -R munge:munge "$WORK/munge" && chmod 711 "$WORK/munge" && chmod 400 "$WORK/munge/munge.key"
SOCKET=$WORK/munge/munge.socket
runuser -u munge -- munged --key-file="$WORK/munge/munge.key" --socket="$SOCKET" \
    --pid-file="$WORK/munge/munged.pid" --log-file="$WORK/munge/munged.log" --seed-file="$WORK/munge/seed"
PIDS+=("$(cat "$WORK/munge/munged.pid")")
# Slurm's auth/munge plugin reads the socket's path from AuthInfo.
sed -i "s|^AuthType=auth/munge|AuthType=auth/munge\nAuthInfo=socket=$SOCKET|" "$SLURM_CONF"

slurmctld -f "$SLURM_CONF"
for _ in $(seq 100); do [ -s "$WORK/run/slurmctld.pid" ] && break; sleep 0.1; done
PIDS+=("$(cat "$WORK/run/slurmctld.pid")")
slurmd -f "$SLURM_CONF"
for _ in $(seq 100); do [ -s "$WORK/run/slurmd.pid" ] && break; sleep 0.1; done
PIDS+=("$(cat "$WORK/run/slurmd.pid")")
for _ in $(seq 300); do sinfo -h -o %T 2>/dev/null | grep -qx idle && break; sleep 0.2; done
echo "== slurm: $(sinfo -h -o '%P %D nodes %c cpus %m MB %T')"

echo "== the demo class"
"$PY" "$KIT/scripts/make_demo_class.py" "$WORK/class" --assignment mnist_mlp >/dev/null
cp -r "$WORK/class" "$WORK/local"

echo "== batch --cluster slurm ($WORKERS SLURM jobs of $CORES core(s), one Dask worker each)"
cd "$WORK/class"
start=$(date +%s.%N)
set +e
"$PY" -m autograder batch mnist_mlp -q --cluster slurm --workers "$WORKERS" --worker-cores "$CORES" \
    --worker-memory 3GiB --cluster-option walltime=00:30:00 \
    --cluster-option "job_script_prologue=[\"export MPLBACKEND=Agg\"]" \
    --cluster-option "local_directory=\"$WORK/workers\"" --cluster-option "log_directory=\"$WORK/log\""
status=$?
set -e
slurm_seconds=$(echo "$(date +%s.%N) - $start" | bc)
jobs=$(grep -c "sched: Allocate JobId" "$WORK/log/slurmctld.log" || true)
echo "== exit status $status (1: the demo class holds a file that is not a notebook), $slurm_seconds s, $jobs SLURM jobs"

echo "== batch on this machine, for comparison"
cd "$WORK/local"
"$PY" -m autograder batch mnist_mlp -q --jobs "$WORKERS" >/dev/null || true

"$PY" - "$WORK/class" "$WORK/local" <<'EOF'
import json, sys
from pathlib import Path
from nbgrader.api import Gradebook

def gradebook(course):
    with Gradebook(f"sqlite:///{Path(course) / 'gradebook.db'}") as gb:
        return {s.student.id: [float(s.score), sorted((g.name, g.auto_score) for g in s.notebooks[0].grades)]
                for s in gb.find_assignment("mnist_mlp").submissions}

slurm, local = gradebook(sys.argv[1]), gradebook(sys.argv[2])
for student in sorted(local):
    record = json.loads((Path(sys.argv[1]) / "reports/mnist_mlp/results" / f"{student}.json").read_text())
    worker = (record.get("result") or {}).get("extra_data", {}).get("worker", {})
    print(f"  {student:20} slurm {slurm.get(student, ['-'])[0]!s:>6}  local {local[student][0]:>6}  "
          f"worker {worker.get('host', '-')} {worker.get('address', '')}  {worker.get('probe', '')}")
same = slurm == local
print(f"== the SLURM batch's gradebook {'equals' if same else 'DIFFERS FROM'} the local batch's "
      f"({len(local)} submissions)")
sys.exit(0 if same else 1)
EOF
