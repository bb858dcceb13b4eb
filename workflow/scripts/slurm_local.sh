#!/usr/bin/env bash
# A single-node Slurm cluster on this machine (munged + slurmctld + slurmd), for trying and
# testing `--workflow-profile profiles/slurm`. Every file it makes — slurm.conf, munge key and
# socket, spool and state dirs, pid and log files, client wrappers — lives in one folder
# (default: <repo>/.slurm, gitignored); nothing is written outside it (no /etc, no /run), and
# it runs as root or as any other user.
#
#   workflow/scripts/slurm_local.sh up     [DIR]   start (idempotent: an up cluster is kept)
#   workflow/scripts/slurm_local.sh status [DIR]   daemons, node and queue; exit 1 when not up
#   workflow/scripts/slurm_local.sh env    [DIR]   print the exports that make sbatch & co use it
#   workflow/scripts/slurm_local.sh down   [DIR]   cancel every job, stop the daemons (idempotent)
#
# Then: eval "$(workflow/scripts/slurm_local.sh env)" (or `. DIR/env.sh`). DIR/bin holds
# wrappers of the Slurm client commands that set SLURM_CONF: the slurm-jobstep executor
# clears SLURM_* variables before its nested `srun`, and without /etc/slurm/slurm.conf that
# srun would find no cluster.
# The node's CPUs and memory are read from the machine (`slurmd -C`); it has no GRES (no GPU).
# Settings (environment): SLURM_LOCAL_PARTITION (default "local"), SLURM_LOCAL_TIMEOUT
# (seconds to wait for the node, default 60).
set -euo pipefail

die() { echo "slurm_local: error: $*" >&2; exit "${EXIT:-1}"; }
say() { echo "slurm_local: $*"; }

CMD=${1:-}
case "$CMD" in
  up|down|status|env) ;;
  *) echo "usage: $0 up|down|status|env [DIR]" >&2
     [ -n "$CMD" ] && echo "slurm_local: error: unknown command '$CMD'" >&2
     exit 2 ;;
esac
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DIR=${2:-$REPO/.slurm}
DIR=$(realpath -m "$DIR")  # absolute; only `up` creates it
CONF=$DIR/slurm.conf
PART=${SLURM_LOCAL_PARTITION:-local}
TIMEOUT=${SLURM_LOCAL_TIMEOUT:-60}
[[ "$PART" =~ ^[A-Za-z0-9_-]+$ ]] || die "SLURM_LOCAL_PARTITION='$PART' is not a valid partition name"
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "SLURM_LOCAL_TIMEOUT='$TIMEOUT' is not a number of seconds"
export SLURM_CONF=$CONF

# Daemons live in sbin, which a non-root PATH often lacks.
find_bin() {
  local b=$1 p
  p=$(PATH="$PATH:/usr/sbin:/sbin:/usr/local/sbin" command -v "$b" 2>/dev/null) || return 1
  echo "$p"
}
CLIENTS="sbatch squeue scontrol scancel sinfo srun sacct"
need_bins() {
  local b missing=()
  for b in munged mungekey munge unmunge slurmctld slurmd slurmstepd $CLIENTS; do
    find_bin "$b" >/dev/null || missing+=("$b")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    EXIT=3 die "missing: ${missing[*]} (Debian: apt-get install slurm-wlm munge)"
  fi
}

pid_of() { [ -s "$DIR/run/$1.pid" ] && cat "$DIR/run/$1.pid" || true; }
running() {  # running PID: exists and is not a zombie (a container's init may not reap)
  local st
  st=$( { sed -n 's/^.*) \([A-Za-z]\) .*/\1/p' "/proc/$1/stat"; } 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}
alive() { local p; p=$(pid_of "$1"); [ -n "$p" ] && running "$p"; }
all_up() { alive munged && alive slurmctld && alive slurmd && scontrol ping >/dev/null 2>&1; }
node_state() { sinfo -h -N -o '%T' 2>/dev/null | head -n1; }

stop_pid() {  # stop_pid NAME: TERM, wait, KILL; the pid comes from our own pid file
  local name=$1 p
  p=$(pid_of "$name")
  if [ -n "$p" ] && running "$p"; then
    kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 1 100); do running "$p" || break; sleep 0.1; done
    if running "$p"; then kill -KILL "$p" 2>/dev/null || true; fi
    say "stopped $name (pid $p)"
  fi
  rm -f "$DIR/run/$name.pid"
}

# Processes this cluster started that outlive slurmd: its slurmstepd's (recognised by their
# open files and working folder inside DIR) and every process under them (the jobs).
stray_pids() {
  local f p marked=() ppid files
  for f in /proc/[0-9]*/comm; do
    p=${f#/proc/}; p=${p%/comm}
    [ "$( { cat "$f"; } 2>/dev/null)" = slurmstepd ] || continue
    files=$( { readlink "/proc/$p/cwd"; ls -l "/proc/$p/fd/"; } 2>/dev/null || true)
    case "$files" in *"$DIR/"*) marked+=("$p") ;; esac
  done
  [ ${#marked[@]} -gt 0 ] || return 0
  # the marked processes and all their descendants
  local all=" ${marked[*]} " changed=1 stat
  while [ $changed = 1 ]; do
    changed=0
    for stat in /proc/[0-9]*/stat; do
      p=${stat#/proc/}; p=${p%/stat}
      case "$all" in *" $p "*) continue ;; esac
      ppid=$( { sed -n 's/^.*) [A-Za-z] \([0-9]*\) .*/\1/p' "$stat"; } 2>/dev/null) || continue
      case "$all" in *" $ppid "*) all="$all$p "; changed=1 ;; esac
    done
  done
  echo "$all"
}

down() {
  if [ -f "$CONF" ] && alive slurmctld && scontrol ping >/dev/null 2>&1; then
    local ids
    ids=$(squeue -h -o '%i' 2>/dev/null | tr '\n' ' ')
    if [ -n "${ids// /}" ]; then
      say "cancelling jobs: $ids"
      # shellcheck disable=SC2086
      scancel $ids 2>/dev/null || true
      for _ in $(seq 1 30); do
        [ -z "$(squeue -h -t running,completing,pending -o '%i' 2>/dev/null)" ] && break
        sleep 1
      done
    fi
  fi
  stop_pid slurmd
  stop_pid slurmctld
  local strays
  strays=$(stray_pids | tr '\n' ' ')
  if [ -n "${strays// /}" ]; then
    say "ending left-over job processes: $strays"
    # shellcheck disable=SC2086
    kill -KILL $strays 2>/dev/null || true
  fi
  stop_pid munged
  rm -f "$DIR/munge/munge.socket.2" "$DIR/munge/munge.socket.2.lock"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

write_conf() {
  local user node cpus line p1 p2
  user=$(id -un)
  # e.g. "NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105"
  line=$(SLURM_CONF=/dev/null "$(find_bin slurmd)" -C 2>/dev/null | grep '^NodeName=' | head -n1) \
    || die "'slurmd -C' did not report this machine's CPUs and memory"
  node=$(sed -n 's/^NodeName=\([^ ]*\).*/\1/p' <<<"$line")
  cpus=$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$line")
  [ -n "$node" ] && [ -n "$cpus" ] || die "cannot parse 'slurmd -C' output: $line"
  p1=$(free_port); p2=$(free_port)
  while [ "$p2" = "$p1" ]; do p2=$(free_port); done
  : > "$DIR/plugstack.conf"
  cat > "$CONF" <<EOF
# Written by workflow/scripts/slurm_local.sh: one node on this machine, state under $DIR
ClusterName=semigan-local
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$p1
SlurmdPort=$p2
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.socket.2
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$DIR/plugstack.conf
TmpFS=$DIR/tmp
# no cgroups: works in containers and without root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
ReturnToService=2
KillWait=5
InactiveLimit=0
SlurmdTimeout=120
# No slurmdbd: sacct has no job records. squeue reports finished jobs for MinJobAge seconds,
# so status polling uses squeue (the executor's status_command) and MinJobAge is long.
MinJobAge=900
AccountingStorageType=accounting_storage/none
# finished jobs (state, exit code, node) are also appended here
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt
$line State=UNKNOWN NodeAddr=127.0.0.1
PartitionName=$PART Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
  echo "$node" > "$DIR/run/nodename"
}

write_wrappers() {
  local b real
  mkdir -p "$DIR/bin"
  for b in $CLIENTS; do
    real=$(find_bin "$b")
    printf '#!/bin/sh\n# %s on the local cluster in %s\nSLURM_CONF=%q exec %q "$@"\n' \
      "$b" "$DIR" "$CONF" "$real" > "$DIR/bin/$b"
    chmod 755 "$DIR/bin/$b"
  done
  printf 'export SLURM_CONF=%q\nexport PATH=%q:"$PATH"\n' "$CONF" "$DIR/bin" > "$DIR/env.sh"
}

up() {
  need_bins
  mkdir -p "$DIR" || die "cannot create the state folder '$DIR'"
  if [ -f "$CONF" ] && all_up; then
    say "already up in $DIR (node $(cat "$DIR/run/nodename"): $(node_state))"
    return 0
  fi
  down >/dev/null 2>&1 || true  # a half-started cluster: start afresh
  # a unix socket path is limited to 107 bytes
  [ ${#DIR} -le 80 ] || die "state folder path too long for munge's socket (${#DIR} > 80 chars): $DIR"
  mkdir -p "$DIR"/{munge,state,spool,run,log,tmp}
  chmod 755 "$DIR/munge"
  write_conf
  write_wrappers

  local key=$DIR/munge/munge.key
  if [ ! -s "$key" ]; then
    "$(find_bin mungekey)" --create --keyfile="$key" >/dev/null 2>&1 \
      || die "mungekey could not create $key"
  fi
  chmod 400 "$key"
  "$(find_bin munged)" --socket="$DIR/munge/munge.socket.2" --key-file="$key" \
    --pid-file="$DIR/run/munged.pid" --log-file="$DIR/log/munged.log" \
    --seed-file="$DIR/munge/munged.seed" --force \
    || die "munged did not start; see $DIR/log/munged.log"
  "$(find_bin munge)" -n -S "$DIR/munge/munge.socket.2" | "$(find_bin unmunge)" -S "$DIR/munge/munge.socket.2" >/dev/null \
    || die "munge round trip failed on $DIR/munge/munge.socket.2; see $DIR/log/munged.log"

  # -c: start with no job state (down cancels every job; a crash may have left stale ones)
  "$(find_bin slurmctld)" -c -f "$CONF" \
    || die "slurmctld did not start; see $DIR/log/slurmctld.log"
  "$(find_bin slurmd)" -f "$CONF" -N "$(cat "$DIR/run/nodename")" \
    || die "slurmd did not start; see $DIR/log/slurmd.log"

  local state=""
  for _ in $(seq 1 $((TIMEOUT * 2))); do
    state=$(node_state)
    case "$state" in idle*|mixed*|allocated*) break ;; esac
    sleep 0.5
  done
  case "$state" in
    idle*|mixed*|allocated*) ;;
    *) down >/dev/null 2>&1 || true
       die "node not ready after ${TIMEOUT}s (state '${state:-none}'); see $DIR/log/slurmd.log and $DIR/log/slurmctld.log" ;;
  esac
  say "up in $DIR: node $(cat "$DIR/run/nodename") ($(sinfo -h -N -o 'CPUs=%c memory=%m MB' | head -n1)), partition $PART"
  say "use it: . $DIR/env.sh"
}

status() {
  local d rc=0
  for d in munged slurmctld slurmd; do
    if alive "$d"; then say "$d running (pid $(pid_of "$d"))"; else say "$d not running"; rc=1; fi
  done
  if [ $rc = 0 ] && scontrol ping >/dev/null 2>&1; then
    sinfo -N -o '%N %P %T %c %m %G'
    squeue -o '%i %j %T %M %R'
  else
    rc=1
  fi
  return $rc
}

case "$CMD" in
  up) up ;;
  down)
    if [ -d "$DIR/run" ]; then down; say "down ($DIR)"; else say "nothing to stop in $DIR"; fi ;;
  status) status ;;
  env)
    [ -f "$DIR/env.sh" ] || die "no cluster in $DIR; run: $0 up $DIR"
    cat "$DIR/env.sh" ;;
esac
