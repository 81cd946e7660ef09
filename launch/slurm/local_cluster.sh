#!/usr/bin/env bash
# A real single-node Slurm on this machine, for the tests (label slurm) and for trying the templates:
# munge + slurmctld + slurmd as root with a minimal slurm.conf, one partition holding this host.
#   launch/slurm/local_cluster.sh start    install (Debian 12 packages) + start; idempotent
#   launch/slurm/local_cluster.sh stop     stop what `start` started
#   launch/slurm/local_cluster.sh status   exit 0 when the cluster answers and its node can run jobs
# The node offers `nproc` CPUs and gpu GRES: the real /dev/nvidia* devices when there are some,
# otherwise two stand-in GPUs (clones of /dev/null), so that --gpus-per-node / --gpus-per-task requests
# are scheduled and bound (CUDA_VISIBLE_DEVICES per task) as on a GPU cluster.
# It never touches a slurm.conf it did not write: on a machine with a real Slurm it refuses.
set -euo pipefail
state=/var/lib/struprune-slurm
conf_dir=/etc/slurm
conf="$conf_dir/slurm.conf"
marker="# written by struprune-dist launch/slurm/local_cluster.sh"
host="$(hostname -s)"

log() { echo "local_cluster: $*"; }

install_packages() {
  local pkgs=(slurmctld slurmd slurm-client munge) missing=() p
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  apt-get update -qq
  # policy-rc.d in containers stops the packages' own service start; we start the daemons below.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# gres.conf lines: the real GPUs, or two stand-ins.
gpu_files() {
  local n
  n="$(find /dev -maxdepth 1 -name 'nvidia[0-9]*' 2>/dev/null | wc -l)"
  if [ "$n" -gt 0 ]; then
    echo "$n /dev/nvidia[0-$((n - 1))]"
  else
    # Slurm wants device nodes: clones of /dev/null (major 1, minor 3), harmless to open.
    for n in 0 1; do [ -c "$state/fakegpu$n" ] || mknod "$state/fakegpu$n" c 1 3; done
    echo "2 $state/fakegpu[0-1]"
  fi
}

write_config() {
  if [ -e "$conf" ] && ! grep -qF "$marker" "$conf"; then
    log "$conf exists and was not written by this script: this machine has its own Slurm; not touching it"
    exit 1
  fi
  mkdir -p "$conf_dir" "$state/ctld" "$state/d" "$state/log"
  local gpus files
  read -r gpus files <<<"$(gpu_files)"
  cat >"$conf" <<EOF
$marker (single-node test cluster)
ClusterName=struprune-local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/d
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
# No cgroups (containers, gVisor): process groups track the steps, no task binding.
ProctrackType=proctrack/pgid
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
GresTypes=gpu
ReturnToService=2
SlurmdTimeout=60
KillWait=5
MinJobAge=600
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) Gres=gpu:$gpus State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
  printf '%s\nNodeName=%s Name=gpu File=%s\n' "$marker" "$host" "$files" >"$conf_dir/gres.conf"
}

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_munge() {
  if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then return 0; fi
  [ -s /etc/munge/munge.key ] || { mungekey --create --keyfile=/etc/munge/munge.key; chown munge:munge /etc/munge/munge.key; }
  mkdir -p /run/munge && chown munge:munge /run/munge
  runuser -u munge -- /usr/sbin/munged
  touch "$state/started-munge"
}

node_ready() {
  local s
  s="$(sinfo -h -n "$host" -o %T 2>/dev/null | head -1)"
  case "$s" in idle* | mixed* | alloc* | completing*) return 0 ;; *) return 1 ;; esac
}

cmd_start() {
  [ "$(id -u)" -eq 0 ] || { log "must run as root"; exit 1; }
  install_packages
  mkdir -p "$state"
  if running "$state/slurmctld.pid" && running "$state/slurmd.pid" && node_ready; then
    log "already running"
    return 0
  fi
  write_config
  start_munge
  running "$state/slurmctld.pid" || slurmctld -c -i
  running "$state/slurmd.pid" || slurmd
  for _ in $(seq 60); do
    if node_ready; then log "up: node $host, $(nproc) CPUs (sinfo: $(sinfo -h -o '%P %T %G' | head -1))"; return 0; fi
    sleep 0.5
  done
  log "the node did not become ready; logs in $state/log:"
  tail -n 20 "$state/log/"*.log >&2 || true
  exit 1
}

stop_pidfile() {
  local f="$1" pid
  running "$f" || return 0
  pid="$(cat "$f")"
  kill "$pid"
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
  kill -9 "$pid" 2>/dev/null || true
}

cmd_stop() {
  stop_pidfile "$state/slurmd.pid"
  stop_pidfile "$state/slurmctld.pid"
  if [ -f "$state/started-munge" ]; then
    stop_pidfile /run/munge/munged.pid
    rm -f "$state/started-munge"
  fi
  log "stopped"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) command -v sinfo >/dev/null && [ -f "$conf" ] && node_ready ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 64 ;;
esac
