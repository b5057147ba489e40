#!/usr/bin/env bash
# Where the server's CPU goes, per configuration, in one HTTP scenario: records DemoWeb with `perf`
# while wrk or h2load drives it, then splits the samples into what a transport can change (its own
# threads, socket syscalls, its managed code) and what it cannot (Kestrel, the app, the runtime).
#
# Usage: perf/profile.sh [scenario=h2c] [seconds=5] [configuration ...]
#   scenario:      plaintext64 | plaintext256 | pipelined | json | churn | h2c
#   configuration: sockets-default | sockets-tuned | epoll-default | epoll-inline
#                  (default: sockets-default epoll-default)
# Needs root or sudo for `perf record` on another process; installs linux-perf, wrk and
# nghttp2-client with apt-get when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

scenario=${1:-h2c}
seconds=${2:-5}
shift $(( $# < 2 ? $# : 2 ))
configurations=("$@")
(( ${#configurations[@]} )) || configurations=(sockets-default epoll-default)

case $scenario in
  plaintext64|plaintext256|pipelined|json|churn) tool=wrk package=wrk ;;
  h2c) tool=h2load package=nghttp2-client ;;
  *) echo "profile.sh: unknown scenario '$scenario' (plaintext64, plaintext256, pipelined, json, churn or h2c)" >&2; exit 2 ;;
esac
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "profile.sh: seconds must be a positive whole number; it was '$seconds'" >&2; exit 2; }
for configuration in "${configurations[@]}"; do
  case $configuration in
    sockets-default|sockets-tuned|epoll-default|epoll-inline) ;;
    *) echo "profile.sh: unknown configuration '$configuration' (sockets-default, sockets-tuned, epoll-default or epoll-inline)" >&2; exit 2 ;;
  esac
done

sudo=
(( EUID == 0 )) || sudo=sudo
for needed in "perf:linux-perf" "$tool:$package" "python3:python3" "curl:curl"; do
  command -v "${needed%%:*}" >/dev/null 2>&1 && continue
  echo "profile.sh: installing ${needed#*:} ..." >&2
  $sudo apt-get update -qq >&2 && $sudo apt-get install -y -qq "${needed#*:}" >&2
done

dotnet build src/DemoWeb -c Release -nologo -v q >&2
dll=src/DemoWeb/bin/Release/net10.0/DemoWeb.dll
work=$(mktemp -d)
server=
cleanup() {
  [[ -n $server ]] && kill -TERM "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

load() { # load PORT H2C_PORT SECONDS
  case $scenario in
    plaintext64) wrk -t2 -c64 -d"$3"s "http://127.0.0.1:$1/plaintext" ;;
    plaintext256) wrk -t2 -c256 -d"$3"s "http://127.0.0.1:$1/plaintext" ;;
    pipelined) wrk -t2 -c256 -d"$3"s -s perf/pipeline.lua "http://127.0.0.1:$1/plaintext" -- 16 ;;
    json) wrk -t2 -c256 -d"$3"s "http://127.0.0.1:$1/json" ;;
    churn) wrk -t2 -c32 -d"$3"s -H "Connection: close" "http://127.0.0.1:$1/plaintext" ;;
    h2c) h2load -t2 -c16 -m32 -D "$3" "http://127.0.0.1:$2/plaintext" ;;
  esac
}

printf '%-16s %12s %10s %12s %8s %8s %12s\n' configuration "req/s" transport "thread pool" GC JIT "Kestrel+app" 
for configuration in "${configurations[@]}"; do
  arguments=() environment=()
  case $configuration in
    sockets-default) arguments=(--transport sockets) ;;
    sockets-tuned) arguments=(--transport sockets --inline true) environment=(DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1) ;;
    epoll-default) arguments=(--transport epoll) ;;
    epoll-inline) arguments=(--transport epoll --inline true) ;;
  esac
  port=$(( 20000 + RANDOM % 20000 )); h2c_port=$(( port + 1 ))
  # Perf maps name the JIT-compiled frames; W^X off keeps one mapping per method so perf can resolve them.
  env "${environment[@]}" DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 dotnet "$dll" \
    --urls "http://127.0.0.1:$port" --h2c-port "$h2c_port" --echo-port -1 --Logging:LogLevel:Default=None \
    "${arguments[@]}" >"$work/server.log" 2>&1 &
  server=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/plaintext" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$port/plaintext" >/dev/null || { echo "profile.sh: DemoWeb did not start: $(tail -5 "$work/server.log")" >&2; exit 1; }
  load "$port" "$h2c_port" 2 >/dev/null 2>&1 # warm-up: tiered JIT settles before recording
  $sudo perf record -F 999 -g -p "$server" -o "$work/perf.data" -- sleep "$seconds" >/dev/null 2>&1 &
  recorder=$!
  output=$(load "$port" "$h2c_port" "$seconds" 2>&1)
  wait "$recorder"
  rate=$(grep -oP '(Requests/sec:\s+\K[0-9.]+)|(finished in [0-9.]+\w*, \K[0-9.]+)' <<<"$output" | head -1)
  kill -TERM "$server"; wait "$server" 2>/dev/null || true; server=
  $sudo perf script -i "$work/perf.data" -F comm,tid,ip,sym 2>/dev/null \
    | python3 perf/profile_share.py "$configuration" "${rate:-?}"
done
