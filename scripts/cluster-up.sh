#!/usr/bin/env bash
# cluster-up.sh [DIR] — start a three-node fedlic domain on loopback as
# background processes, and wait until it has a leader.
#
#   DIR          data, logs (DIR/nodeN.log) and pids (DIR/nodeN.pid);
#                default ./tmp/cluster. Running it again on the same DIR
#                restarts the nodes from their data (no new bootstrap/join).
#   GRPC_BASE    first gRPC port (default 7400; nodes use BASE..BASE+2)
#   RAFT_BASE    first raft port (default 7500; nodes use BASE..BASE+2)
#   HOST         loopback address to bind (default 127.0.0.1)
#   DOMAIN       domain name (default acme)
#   FEDLIC       binary to run (default bin/fedlic, built with `make build`
#                when missing; run `make build` yourself to refresh it)
#   WAIT_SECS    how long to wait for a leader (default 60)
#
# Stop it with scripts/cluster-down.sh DIR.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${1:-./tmp/cluster}
GRPC_BASE=${GRPC_BASE:-7400}
RAFT_BASE=${RAFT_BASE:-7500}
HOST=${HOST:-127.0.0.1}
DOMAIN=${DOMAIN:-acme}
FEDLIC=${FEDLIC:-$root/bin/fedlic}
WAIT_SECS=${WAIT_SECS:-60}

started=0
die() {
  echo "cluster-up: $*" >&2
  # A failed start leaves no half-running domain behind (data is kept).
  if (( started )); then
    "$root/scripts/cluster-down.sh" "$dir" >&2 || true
  fi
  exit 1
}

for v in GRPC_BASE RAFT_BASE WAIT_SECS; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v=${!v} is not a number"
done

if [[ ! -x $FEDLIC ]]; then
  [[ $FEDLIC == "$root/bin/fedlic" ]] || die "FEDLIC=$FEDLIC is not an executable file"
  echo "building $FEDLIC (make build)"
  make -C "$root" build >&2
fi

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

# A pid file whose process still runs means the cluster is (partly) up.
for i in 1 2 3; do
  pidf=$dir/node$i.pid
  if [[ -f $pidf ]] && kill -0 "$(cat "$pidf")" 2>/dev/null; then
    die "node$i is already running (pid $(cat "$pidf")); stop it with: $root/scripts/cluster-down.sh $dir"
  fi
  rm -f "$pidf"
done

grpc() { echo "$HOST:$((GRPC_BASE + $1 - 1))"; }
raft() { echo "$HOST:$((RAFT_BASE + $1 - 1))"; }

tail_logs() {
  local i
  for i in 1 2 3; do
    [[ -f $dir/node$i.log ]] || continue
    echo "--- last lines of $dir/node$i.log" >&2
    tail -n 15 "$dir/node$i.log" >&2 || true
  done
}

for i in 1 2 3; do
  args=(agent --domain "$DOMAIN" --node-id "node$i" --data-dir "$dir/node$i"
        --raft-addr "$(raft "$i")" --grpc-addr "$(grpc "$i")")
  if [[ $i == 1 ]]; then
    args+=(--bootstrap)
  else
    args+=(--join "$(grpc 1)")
  fi
  # The same command line restarts a node from its data folder.
  nohup "$FEDLIC" "${args[@]}" </dev/null >>"$dir/node$i.log" 2>&1 &
  echo $! >"$dir/node$i.pid"
  started=1
done

# Wait until every node knows the leader and all three members.
deadline=$((SECONDS + WAIT_SECS))
while :; do
  ready=0
  last=""
  for i in 1 2 3; do
    pid=$(cat "$dir/node$i.pid")
    if ! kill -0 "$pid" 2>/dev/null; then
      tail_logs
      die "node$i (pid $pid) exited; see $dir/node$i.log"
    fi
    if out=$("$FEDLIC" cluster status --addr "$(grpc "$i")" --json --timeout 2s 2>&1); then
      if [[ $out =~ \"leader_id\":\"([^\"]+)\" ]] && (( $(grep -o '"id":' <<<"$out" | wc -l) == 3 )); then
        ready=$((ready + 1))
        leader=${BASH_REMATCH[1]}
      else
        last="node$i: $out"
      fi
    else
      last="node$i: $out"
    fi
  done
  (( ready == 3 )) && break
  if (( SECONDS >= deadline )); then
    tail_logs
    die "no leader after ${WAIT_SECS}s (last: $last)"
  fi
  sleep 0.2
done

echo "fedlic domain $DOMAIN is up; leader: $leader"
for i in 1 2 3; do
  printf '  node%d  grpc %s  raft %s  pid %s  log %s\n' "$i" "$(grpc "$i")" "$(raft "$i")" \
    "$(cat "$dir/node$i.pid")" "$dir/node$i.log"
done
echo
echo "try:  $FEDLIC cluster status --addr $(grpc 1)"
echo "stop: $root/scripts/cluster-down.sh $dir   (add --purge to delete the data)"
