#!/usr/bin/env bash
# A real single-node SLURM on localhost, for tests/cluster/test_slurm.py:
#
#   tests/cluster/slurm.sh start DIR   install (Debian packages, if missing) and start munged,
#                                      MariaDB, slurmdbd, slurmctld and slurmd, all state under
#                                      DIR; prints the SLURM_CONF to export
#   tests/cluster/slurm.sh stop DIR    stop every daemon started from DIR
#
# Exit status of `start`: 0 up; 3 the system packages cannot be installed here (the test is then
# skipped with a message); anything else a real failure. Needs root (apt-get, munge's key, the
# daemons). GPU-free: the node has no GRES; the test profile maps the `gpu` resource off.
set -euo pipefail

cmd=${1:?usage: slurm.sh start|stop DIR}
dir=$(realpath -m "${2:?usage: slurm.sh start|stop DIR}")
PACKAGES=(slurm-wlm slurmdbd munge mariadb-server)

stop() {
    # Reverse order; each daemon wrote its pid file under $dir/run.
    for name in slurmd slurmctld slurmdbd mariadb munged; do
        pidfile="$dir/run/$name.pid"
        [[ -f $pidfile ]] || continue
        pid=$(cat "$pidfile")
        if kill "$pid" 2>/dev/null; then
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
            kill -9 "$pid" 2>/dev/null || true
        fi
        rm -f "$pidfile"
    done
    rm -rf /run/slurm/conf  # slurmd's configless cache
}

if [[ $cmd == stop ]]; then
    stop
    exit 0
fi
[[ $cmd == start ]] || { echo "slurm.sh: unknown command '$cmd' (start or stop)" >&2; exit 2; }

if [[ $(id -u) != 0 ]]; then
    echo "slurm.sh: needs root to install and start the SLURM daemons" >&2
    exit 3
fi
missing=()
for tool in slurmctld slurmd slurmdbd sacct munged mariadbd mariadb-install-db; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if (( ${#missing[@]} )); then
    echo "slurm.sh: installing ${PACKAGES[*]} (missing: ${missing[*]})" >&2
    if ! command -v apt-get >/dev/null \
        || ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${PACKAGES[@]}" >"$dir.apt.log" 2>&1; then
        if ! (apt-get update >>"$dir.apt.log" 2>&1 \
              && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${PACKAGES[@]}" >>"$dir.apt.log" 2>&1); then
            echo "slurm.sh: cannot install ${PACKAGES[*]}: see $dir.apt.log" >&2
            exit 3
        fi
    fi
fi

stop  # a previous run's daemons, if any
rm -rf "$dir"
mkdir -p "$dir"/{run,log,state,spool,mysql,etc}
host=$(hostname -s)
# NOTE: the node declares at least 8 CPUs on a 2-core machine (config_overrides), so that
# SLURM's submission and polling latency overlaps with other jobs' work; every test job runs
# one thread, and its results do not depend on how many run at once.
cpus=$(( $(nproc) > 8 ? $(nproc) : 8 ))
memory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))

# munge, on its default socket: configless slurmd asks slurmctld for its config before it knows
# any AuthInfo. A fresh key for this cluster only; another munged on this machine is left alone.
socket=/run/munge/munge.socket.2
if [[ -S $socket ]] && munge -n >/dev/null 2>&1 && [[ ! -f $dir/run/munged.pid ]]; then
    echo "slurm.sh: a munged is already running on this machine ($socket); not starting a test cluster beside it" >&2
    exit 3
fi
mkdir -p /run/munge
dd if=/dev/urandom bs=1 count=1024 of="$dir/etc/munge.key" status=none
chmod 600 "$dir/etc/munge.key"
munged --force --key-file="$dir/etc/munge.key" --socket="$socket" --pid-file="$dir/run/munged.pid" \
    --log-file="$dir/log/munged.log" --seed-file="$dir/state/munge.seed"

# MariaDB for slurmdbd (sacct reads the job records from it)
mariadb-install-db --user=root --datadir="$dir/mysql" --auth-root-authentication-method=normal >"$dir/log/mariadb-install.log" 2>&1
mariadbd --user=root --datadir="$dir/mysql" --socket="$dir/run/mysql.sock" --pid-file="$dir/run/mariadb.pid" \
    --skip-networking=0 --bind-address=127.0.0.1 --port=33306 --log-error="$dir/log/mariadb.log" &
for _ in $(seq 100); do [[ -S $dir/run/mysql.sock ]] && break; sleep 0.2; done
[[ -S $dir/run/mysql.sock ]] || { echo "slurm.sh: MariaDB did not start: $dir/log/mariadb.log" >&2; exit 1; }

cat >"$dir/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdPort=36819
SlurmUser=root
PidFile=$dir/run/slurmdbd.pid
LogFile=$dir/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=33306
StorageUser=root
StorageLoc=slurm_acct_db
EOF
chmod 600 "$dir/etc/slurmdbd.conf"

cat >"$dir/etc/slurm.conf" <<EOF
ClusterName=snnbench-test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
SlurmctldPort=36817
SlurmdPort=36818
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
# configless: slurmd fetches this file from slurmctld and caches it in /run/slurm/conf, where
# client commands inside jobs find it (the jobstep executor drops SLURM_* variables, SLURM_CONF too)
SlurmctldParameters=enable_configless
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=36819
AccountingStoreFlags=job_comment
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
MinJobAge=300
NodeName=$host CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
# slurmdbd reads slurmdbd.conf beside $SLURM_CONF
export SLURM_CONF=$dir/etc/slurm.conf

slurmdbd
for _ in $(seq 100); do sacctmgr -n list cluster >/dev/null 2>&1 && break; sleep 0.2; done
sacctmgr -i add cluster snnbench-test >/dev/null
slurmctld
env -u SLURM_CONF slurmd --conf-server "$host:36817"
for _ in $(seq 150); do
    state=$(sinfo -h -N -o %t 2>/dev/null || true)
    [[ $state == idle ]] && break
    sleep 0.2
done
if [[ $state != idle ]]; then
    echo "slurm.sh: the node did not come up (state '$state'): see $dir/log" >&2
    stop
    exit 1
fi
echo "$SLURM_CONF"
