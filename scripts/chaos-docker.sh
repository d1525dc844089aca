#!/usr/bin/env bash
# chaos-docker.sh — partition a real three-node fedlic domain in Docker.
#
# Builds a FROM-scratch image around a static fedlic, starts the domain
# with Compose on a private network it creates, and for DURATION seconds
# alternates faults — isolate the leader (docker network disconnect),
# isolate a follower, pause a node (docker pause) — while issuing and
# revoking licenses through the majority side. After healing it checks,
# on every replica: every acknowledged license exists, every
# acknowledged revocation is revoked, and the state hashes are equal.
# The last stdout line is one JSON object; exit 0 only when ok.
#
#   scripts/chaos-docker.sh [DURATION_SECONDS]     (default 60)
#   env: SEED (fault order), KEEP=1 (leave containers up), FEDLIC_NET
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-${DURATION:-60}}
SEED=${SEED:-$RANDOM}
NET=${FEDLIC_NET:-10.213.77}
export FEDLIC_NET=$NET FEDLIC_SUBNET="$NET.0/24"
PROJECT=fedlicchaos
WORK=$(mktemp -d /tmp/fedlic-chaos-docker.XXXXXX)
RANDOM=$SEED

if command -v docker-compose >/dev/null; then COMPOSE=(docker-compose); else COMPOSE=(docker compose); fi
COMPOSE+=(-p "$PROJECT" -f scripts/docker/compose.yml)
NETWORK="${PROJECT}_domain"
log() { echo "chaos-docker: $*" >&2; }
ip_of() { echo "$NET.$((10 + $1))"; }
fedlic() { local n=$1; shift; timeout 10 docker exec "fedlic-chaos-node$n" /fedlic "$@" --json 2>>"$WORK/cli.err"; }
jget() { sed -n 's/.*"'"$1"'":"\{0,1\}\([^",}]*\).*/\1/p' | head -1; }

cleanup() {
  local rc=$?
  for n in 1 2 3; do docker unpause "fedlic-chaos-node$n" >/dev/null 2>&1 || true; done
  if [ "${KEEP:-0}" != 1 ]; then
    for n in 1 2 3; do docker logs "fedlic-chaos-node$n" >"$WORK/node$n.log" 2>&1 || true; done
    "${COMPOSE[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
  fi
  [ $rc -eq 0 ] && [ "${KEEP:-0}" != 1 ] && rm -rf "$WORK"
  [ $rc -ne 0 ] && log "kept history and logs in $WORK"
  exit $rc
}
trap cleanup EXIT INT TERM

log "building a static fedlic and the FROM-scratch image (seed $SEED)"
mkdir -p "$WORK/img"
CGO_ENABLED=0 go build -trimpath -o "$WORK/img/fedlic" ./cmd/fedlic
cp scripts/docker/Dockerfile "$WORK/img/"
docker build -q -t fedlic:chaos "$WORK/img" >/dev/null
"${COMPOSE[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
"${COMPOSE[@]}" up -d >/dev/null

leader() { # prints the leader's node number as seen by node $1
  local id; id=$(fedlic "$1" cluster status --addr "$(ip_of "$1"):7400" | jget leader_id) || return 1
  [ -n "$id" ] && echo "${id#node}"
}
wait_converged() { # all three report a leader and the same applied index
  local deadline=$((SECONDS + ${1:-60})) a b c
  while [ $SECONDS -lt $deadline ]; do
    a=$(fedlic 1 cluster status --addr "$(ip_of 1):7400" | jget applied_index || true)
    b=$(fedlic 2 cluster status --addr "$(ip_of 2):7400" | jget applied_index || true)
    c=$(fedlic 3 cluster status --addr "$(ip_of 3):7400" | jget applied_index || true)
    if [ -n "$a" ] && [ "$a" = "$b" ] && [ "$b" = "$c" ] && leader 1 >/dev/null; then return 0; fi
    sleep 0.3
  done
  log "replicas did not converge: $a $b $c"; return 1
}
wait_converged 90

ACKED=()     # license ids whose issue was acknowledged
REVOKED=()   # license ids whose revocation was acknowledged
UNKNOWN=0; OPS=0; FAULTS=0
# write N licenses through node $1 (on the majority side); revoke every third
load() {
  local via=$1 count=$2 out id i
  for ((i = 0; i < count; i++)); do
    OPS=$((OPS + 1))
    if out=$(fedlic "$via" license issue --addr "$(ip_of "$via"):7400" --licensee "chaos-$OPS" --product acme/db --feature seats=5); then
      id=$(echo "$out" | jget id); ACKED+=("$id")
      if [ $((OPS % 3)) -eq 0 ]; then
        OPS=$((OPS + 1))
        if fedlic "$via" license revoke --addr "$(ip_of "$via"):7400" "$id" --reason chaos >/dev/null; then REVOKED+=("$id"); else UNKNOWN=$((UNKNOWN + 1)); fi
      fi
    else
      UNKNOWN=$((UNKNOWN + 1))
    fi
  done
}

END=$((SECONDS + DURATION))
while [ $SECONDS -lt $END ]; do
  L=$(leader 1 || leader 2 || leader 3 || echo 1)
  F=$(( (L % 3) + 1 )); O=$(( (F % 3) + 1 )); [ "$O" = "$L" ] && O=$(( (O % 3) + 1 ))
  case $((RANDOM % 3)) in
    0) log "fault: isolate leader node$L"; docker network disconnect "$NETWORK" "fedlic-chaos-node$L"
       load "$F" 8
       docker network connect --ip "$(ip_of "$L")" "$NETWORK" "fedlic-chaos-node$L" ;;
    1) log "fault: isolate follower node$F"; docker network disconnect "$NETWORK" "fedlic-chaos-node$F"
       load "$L" 8
       docker network connect --ip "$(ip_of "$F")" "$NETWORK" "fedlic-chaos-node$F" ;;
    2) log "fault: pause node$F"; docker pause "fedlic-chaos-node$F" >/dev/null
       load "$L" 8
       docker unpause "fedlic-chaos-node$F" >/dev/null ;;
  esac
  FAULTS=$((FAULTS + 1))
  wait_converged 60
done

log "healed; checking ${#ACKED[@]} acknowledged licenses and ${#REVOKED[@]} revocations on every replica"
LOST=0; UNDONE=0
is_revoked() { for r in "${REVOKED[@]}"; do [ "$r" = "$1" ] && return 0; done; return 1; }
for id in "${ACKED[@]}"; do
  for n in 1 2 3; do
    st=$(fedlic "$n" license get --addr "$(ip_of "$n"):7400" "$id" --consistency stale | jget status || true)
    if [ -z "$st" ]; then LOST=$((LOST + 1)); log "lost: $id missing on node$n"
    elif is_revoked "$id" && [ "$st" != revoked ]; then UNDONE=$((UNDONE + 1)); log "undone: $id is $st on node$n"; fi
  done
done
H1=$(fedlic 1 cluster status --hash --addr "$(ip_of 1):7400" | jget state_hash)
H2=$(fedlic 2 cluster status --hash --addr "$(ip_of 2):7400" | jget state_hash)
H3=$(fedlic 3 cluster status --hash --addr "$(ip_of 3):7400" | jget state_hash)
EQUAL=false; [ -n "$H1" ] && [ "$H1" = "$H2" ] && [ "$H2" = "$H3" ] && EQUAL=true
OK=false; [ $LOST -eq 0 ] && [ $UNDONE -eq 0 ] && [ $EQUAL = true ] && [ ${#ACKED[@]} -gt 0 ] && OK=true
echo "{\"ok\":$OK,\"mode\":\"docker\",\"ops\":$OPS,\"acked\":$(( ${#ACKED[@]} + ${#REVOKED[@]} )),\"unknown\":$UNKNOWN,\"lost\":$LOST,\"revocations_undone\":$UNDONE,\"replicas_equal\":$EQUAL,\"faults\":$FAULTS,\"seed\":$SEED}"
[ $OK = true ]
