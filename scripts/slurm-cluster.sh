#!/usr/bin/env bash
# A real 2-node Slurm cluster on this one machine, for Kiln's cluster tests and benchmark.
#
#   scripts/slurm-cluster.sh start DIR   starts it; DIR holds its config, state and logs
#   scripts/slurm-cluster.sh stop DIR    stops it and removes everything it made but DIR
#   scripts/slurm-cluster.sh env DIR     prints the variables that point Slurm's commands at it
#   scripts/slurm-cluster.sh start-node DIR NODE   starts NODE's slurmd again (after a test
#                                        killed it)
#
# Each node (n1, n2) is a network namespace with its own address on a bridge, and a UTS
# namespace with its own host name (n1, n2), as real nodes have: Open MPI names its
# shared-memory segments by host name, so ranks of two nodes with one name and one /dev/shm
# would write into each other's. slurmctld runs in this namespace, one slurmd in each
# node's. The cluster has its own munged (its
# own key and socket), so nothing of the machine's own Slurm or munge is touched. As root.
#
# KILN_CLUSTER_NET (default 10.77.0) is the /24 the cluster lives on; KILN_CLUSTER_NAME
# (default kiln) prefixes the bridge and namespace names, so two clusters can coexist.
set -euo pipefail

command="${1:-}"
dir="${2:-}"
if [[ -z "$command" || -z "$dir" ]]; then
  echo "usage: $0 start|stop|env DIR, or start-node DIR NODE" >&2
  exit 2
fi
if [[ "$(id -u)" != 0 ]]; then
  echo "slurm-cluster: run as root (it makes network namespaces and runs Slurm's daemons)" >&2
  exit 1
fi
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
net="${KILN_CLUSTER_NET:-10.77.0}"
name="${KILN_CLUSTER_NAME:-kiln}"
bridge="${name}br0"
nodes=(n1 n2)
# Ports of this cluster's daemons, away from Slurm's defaults (6817, 6818).
ctld_port="${KILN_CLUSTER_CTLD_PORT:-16817}"
slurmd_port="${KILN_CLUSTER_SLURMD_PORT:-16818}"

namespace() { echo "${name}-$1"; }
node_addr() { echo "${net}.1$(( ${1#n} ))"; }

print_env() {
  echo "SLURM_CONF=$dir/slurm.conf"
}

stop_pidfile() {
  local file="$1"
  [[ -f "$file" ]] || return 0
  local pid
  pid="$(cat "$file" 2>/dev/null || true)"
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

# The daemons of another cluster of this name (started from another DIR and never stopped:
# a killed test run) hold its ports and namespaces; they read a slurm.conf with our
# ClusterName.
stop_stale() {
  local pid conf
  for pid in $(pgrep -x slurmctld 2>/dev/null; pgrep -x slurmd 2>/dev/null); do
    conf="$(tr '\0' '\n' < "/proc/$pid/cmdline" 2>/dev/null | grep -A1 -x -- -f | tail -n 1 || true)"
    [[ -z "$conf" || "$conf" == "$dir/slurm.conf" ]] && continue
    if [[ -f "$conf" ]] && grep -qx "ClusterName=${name}test" "$conf"; then
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  for pid in $(pgrep -x munged 2>/dev/null); do
    conf="$(tr '\0' '\n' < "/proc/$pid/cmdline" 2>/dev/null |
      sed -n 's|^--socket=\(.*\)/munge/munge.socket$|\1/slurm.conf|p' || true)"
    [[ -z "$conf" || "$conf" == "$dir/slurm.conf" ]] && continue
    if [[ -f "$conf" ]] && grep -qx "ClusterName=${name}test" "$conf"; then
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
}

stop() {
  # Jobs first, so no step outlives its slurmd.
  if [[ -f "$dir/slurm.conf" ]] && [[ -f "$dir/slurmctld.pid" ]]; then
    SLURM_CONF="$dir/slurm.conf" timeout 5 scancel --full --quiet --user=root 2>/dev/null || true
  fi
  for node in "${nodes[@]}"; do stop_pidfile "$dir/slurmd.$node.pid"; done
  stop_pidfile "$dir/slurmctld.pid"
  # slurmstepd outlives a killed slurmd; those of this cluster read its slurm.conf.
  for pid in $(pgrep -f "slurmstepd" 2>/dev/null || true); do
    if tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qx "SLURM_CONF=$dir/slurm.conf"; then
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  stop_pidfile "$dir/munged.pid"
  for node in "${nodes[@]}"; do
    ip link del "${name}-$node" 2>/dev/null || true
    ip netns del "$(namespace "$node")" 2>/dev/null || true
  done
  ip link del "$bridge" 2>/dev/null || true
}

write_config() {
  local host
  host="$(hostname)"
  {
    echo "# Written by scripts/slurm-cluster.sh: a 2-node test cluster on one machine."
    echo "ClusterName=${name}test"
    echo "SlurmctldHost=${host}(${net}.1)"
    echo "SlurmctldPort=$ctld_port"
    echo "SlurmdPort=$slurmd_port"
    echo "SlurmUser=root"
    echo "SlurmdUser=root"
    echo "AuthType=auth/munge"
    echo "AuthInfo=socket=$dir/munge/munge.socket"
    echo "CredType=cred/munge"
    echo "ProctrackType=proctrack/linuxproc"
    echo "TaskPlugin=task/none"
    echo "SelectType=select/cons_tres"
    echo "SelectTypeParameters=CR_CPU"
    echo "MpiDefault=none"
    echo "SchedulerType=sched/backfill"
    echo "AccountingStorageType=accounting_storage/none"
    echo "JobCompType=jobcomp/none"
    echo "JobAcctGatherType=jobacct_gather/none"
    echo "StateSaveLocation=$dir/state"
    echo "SlurmdSpoolDir=$dir/spool/%n"
    echo "SlurmctldPidFile=$dir/slurmctld.pid"
    echo "SlurmdPidFile=$dir/slurmd.%n.pid"
    echo "SlurmctldLogFile=$dir/slurmctld.log"
    echo "SlurmdLogFile=$dir/slurmd.%n.log"
    # A dead slurmd is noticed in seconds, not Slurm's default 5 minutes.
    echo "SlurmdTimeout=6"
    echo "SlurmctldTimeout=10"
    echo "MessageTimeout=5"
    echo "KillWait=10"
    echo "MinJobAge=60"
    echo "ReturnToService=2"
    for node in "${nodes[@]}"; do
      echo "NodeName=$node NodeAddr=$(node_addr "$node") CPUs=2 RealMemory=4000 State=UNKNOWN"
    done
    echo "PartitionName=debug Nodes=$(IFS=,; echo "${nodes[*]}") Default=YES MaxTime=INFINITE State=UP"
  } > "$dir/slurm.conf"
}

start_munge() {
  mkdir -p "$dir/munge"
  chmod 0700 "$dir/munge"
  if [[ ! -f "$dir/munge/munge.key" ]]; then
    head -c 1024 /dev/urandom > "$dir/munge/munge.key"
    chmod 0400 "$dir/munge/munge.key"
  fi
  munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
    --pid-file="$dir/munged.pid" --log-file="$dir/munge/munged.log" \
    --seed-file="$dir/munge/munged.seed"
}

start_network() {
  ip link add "$bridge" type bridge
  ip addr add "${net}.1/24" dev "$bridge"
  ip link set "$bridge" up
  for node in "${nodes[@]}"; do
    local ns
    ns="$(namespace "$node")"
    ip netns add "$ns"
    ip link add "${name}-$node" type veth peer name eth0 netns "$ns"
    ip link set "${name}-$node" master "$bridge" up
    ip -n "$ns" addr add "$(node_addr "$node")/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
  done
}

wait_for_nodes() {
  for _ in $(seq 150); do
    local idle
    idle="$(SLURM_CONF="$dir/slurm.conf" sinfo -h -N -o '%t' 2>/dev/null | grep -c '^idle' || true)"
    [[ "$idle" == "${#nodes[@]}" ]] && return 0
    sleep 0.2
  done
  echo "slurm-cluster: the nodes did not come up; see $dir/*.log" >&2
  SLURM_CONF="$dir/slurm.conf" sinfo -N >&2 || true
  return 1
}

start() {
  stop
  stop_stale
  mkdir -p "$dir/state"
  for node in "${nodes[@]}"; do mkdir -p "$dir/spool/$node"; done
  write_config
  start_munge
  start_network
  slurmctld -c -f "$dir/slurm.conf"
  for node in "${nodes[@]}"; do start_node "$node"; done
  wait_for_nodes
}

# slurmd of `node`, in the node's network namespace and a UTS namespace named after it.
start_node() {
  local node="$1"
  nsenter --net="/run/netns/$(namespace "$node")" \
    unshare --uts sh -c 'hostname "$1" && exec slurmd -N "$1" -f "$2"' sh "$node" "$dir/slurm.conf"
}

case "$command" in
  start) trap 'stop' ERR; start; trap - ERR; print_env ;;
  stop) stop ;;
  env) print_env ;;
  start-node) start_node "${3:?usage: $0 start-node DIR NODE}" ;;
  *) echo "usage: $0 start|stop|env DIR" >&2; exit 2 ;;
esac
