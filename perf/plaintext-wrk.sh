#!/usr/bin/env bash
# A first side-by-side figure: DemoWeb's /plaintext under wrk, Sockets and Epoll alternating in one run.
# Usage: perf/plaintext-wrk.sh [rounds=3] [seconds=10] [connections=64]
# (The full benchmark suite with every scenario and target comes with the perf issue.)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}; seconds=${2:-10}; connections=${3:-64}
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
dotnet build src/DemoWeb -c Release -v q -nologo >/dev/null
dll=src/DemoWeb/bin/Release/net10.0/DemoWeb.dll
port=5090
declare -A results
run_one() { # transport
  dotnet "$dll" --urls "http://127.0.0.1:$port" --transport "$1" --Logging:LogLevel:Default=Warning >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/plaintext" >/dev/null 2>&1 && break; sleep 0.1; done
  wrk -t 2 -c "$connections" -d 3s "http://127.0.0.1:$port/plaintext" >/dev/null   # warm-up
  local rps
  rps=$(wrk -t 2 -c "$connections" -d "${seconds}s" --latency "http://127.0.0.1:$port/plaintext" | awk '/Requests\/sec/ {print $2}')
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  echo "$rps"
}
for r in $(seq 1 "$rounds"); do
  for t in sockets epoll; do
    v=$(run_one "$t"); results[$t]+="$v "
    printf 'round %d %-8s %12s req/s\n' "$r" "$t" "$v" >&2
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2)? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
s=$(echo "${results[sockets]}" | median); e=$(echo "${results[epoll]}" | median)
printf '\n| transport | median req/s (%s rounds, %s conns) | ratio |\n|---|---|---|\n' "$rounds" "$connections"
printf '| Sockets | %.0f | 1.00 |\n| Epoll | %.0f | %.2f |\n' "$s" "$e" "$(echo "$e / $s" | bc -l)"
