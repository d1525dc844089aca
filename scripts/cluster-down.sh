#!/usr/bin/env bash
# cluster-down.sh [DIR] [--purge] — stop the nodes cluster-up.sh started
# in DIR (default ./tmp/cluster): SIGTERM, then SIGKILL after STOP_SECS
# (default 15) seconds; removes the pid files. --purge also deletes the
# nodes' data and logs. (A leader whose follower hangs can take ~10 s,
# raft's network I/O timeout, to shut down cleanly.)
set -euo pipefail

dir=""
purge=0
for a in "$@"; do
  case $a in
    --purge) purge=1 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    -*) echo "cluster-down: unknown option $a" >&2; exit 2 ;;
    *) [[ -z $dir ]] || { echo "cluster-down: give one DIR" >&2; exit 2; }; dir=$a ;;
  esac
done
dir=${dir:-./tmp/cluster}
STOP_SECS=${STOP_SECS:-15}

if [[ ! -d $dir ]]; then
  echo "cluster-down: $dir does not exist; nothing to stop"
  exit 0
fi

# is_ours PID: the process runs and is a fedlic agent (not a recycled pid).
is_ours() {
  kill -0 "$1" 2>/dev/null || return 1
  local cmd
  cmd=$(ps -o args= -p "$1" 2>/dev/null) || return 1
  [[ $cmd == *fedlic*agent* ]]
}

pids=()
for pidf in "$dir"/node*.pid; do
  [[ -f $pidf ]] || continue
  pid=$(cat "$pidf")
  node=$(basename "$pidf" .pid)
  if [[ $pid =~ ^[0-9]+$ ]] && is_ours "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    pids+=("$pid")
    echo "stopping $node (pid $pid)"
  else
    echo "$node (pid $pid) is not running"
  fi
done

deadline=$((SECONDS + STOP_SECS))
for pid in "${pids[@]}"; do
  while is_ours "$pid"; do
    if (( SECONDS >= deadline )); then
      echo "pid $pid did not stop within ${STOP_SECS}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.1
  done
done
# SIGKILL cannot be caught, but give the kernel a bounded moment.
deadline=$((SECONDS + 5))
for pid in "${pids[@]}"; do
  while is_ours "$pid"; do
    (( SECONDS < deadline )) || { echo "cluster-down: pid $pid survived SIGKILL" >&2; exit 1; }
    sleep 0.05
  done
done
rm -f "$dir"/node*.pid

if (( purge )); then
  # Delete only what cluster-up.sh created, never the whole DIR blindly.
  rm -rf "$dir"/node[0-9] "$dir"/node[0-9].log
  rmdir "$dir" 2>/dev/null || true
  echo "purged $dir"
fi
echo "stopped"
