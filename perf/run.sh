#!/usr/bin/env bash
# The benchmark suite in one command: every server configuration in alternation over every scenario
# (HTTP and HTTPS through wrk and h2load, one connection and many, TCP echo, uploads and idle
# connections through perf/echo-load), in each core setup (shared: nothing pinned; dedicated: DemoWeb on
# the last CPU, the load generators on the others), medians, ratios to Sockets default, the target
# check, and Markdown/JSON/SVG under perf/results/.
# The default, 3 rounds × 5 s, both setups and four configurations, takes about 77 minutes on 2 cores
# (the harness prints its estimate at the start); --only @issues-24-27, the rows issues 24 and 27 judge
# in both setups, about 59 (30 with --configs default).
#
# Usage: perf/run.sh [rounds=3] [seconds=5] [--only TEXT[,TEXT]] [--configs TEXT[,TEXT]] [--setup shared|dedicated|both]
#                    [--app-log-level LEVEL] [--busy N|cores] [--before DIR]
#          (--setup defaults to both; Epoll unsafe inline runs only when --configs names it: --configs default,tuned,pool,unsafe is all five;
#          the minimal C server of perf/c-reference, "C epoll server" (polls 50 µs before sleeping, as the loop does) and
#          "C epoll server, sleeping", likewise, and only in the HTTP/1.1 plaintext scenarios: --configs "default,C epoll";
#          --only matches parts of scenario names ("one conn", upload, https) or names a group (@issues-24-27);
#          --busy N runs N spinning processes beside DemoWeb during every sample, on its CPU in the dedicated setup:
#          results <stamp>-busy<N>.*)
#        perf/run.sh profile [seconds=5] [--only TEXT[,TEXT]] [--configs TEXT[,TEXT]] [--setup shared|dedicated|both]
#          (where the server's CPU goes under `perf record`: transport, thread pool, GC, JIT, Kestrel+app)
#        perf/run.sh soak [minutes=10] [--configs NAME]
#          (one DemoWeb under mixed HTTP/1.1, churn, h2c, WebSocket and echo load: RSS slope, errors, descriptors
#          and threads back to baseline; perf/results/soak-<stamp>.md and .svg)
# Progress goes to stderr, the tables to stdout. Ctrl+C or SIGTERM stops the load generator, the busy
# neighbours and DemoWeb.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ${1:-} == profile ]]; then
  shift
  arguments=(profile "$@")
elif [[ ${1:-} == soak ]]; then
  shift
  arguments=(soak "$@")
else
  rounds=3
  seconds=5
  if [[ ${1:-} =~ ^[0-9]+$ ]]; then rounds=$1; shift; fi
  if [[ ${1:-} =~ ^[0-9]+$ ]]; then seconds=$1; shift; fi
  arguments=(suite "$rounds" "$seconds" "$@")
fi

command -v dotnet >/dev/null 2>&1 || { echo "run.sh: the .NET 10 SDK (dotnet) is not on PATH" >&2; exit 2; }

# The harness itself finds or installs wrk, h2load and gcc (apt-get) and builds perf/echo-load before
# the first sample (ToolInstaller, EchoClient), so running it directly works the same way.
echo "run.sh: building DemoWeb and the harness (Release) ..." >&2
dotnet build src/DemoWeb -c Release -nologo -v q >&2
dotnet build perf/EpollTransport.Perf -c Release -nologo -v q >&2

# 10,000 idle connections need fds on both ends; children inherit the raised soft limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# The harness leads a process group of its own (setsid), so everything it started can be found and
# stopped: on a signal it gets SIGTERM first (it kills its load generator and stops DemoWeb
# gracefully), and whatever is still in its group after that is killed.
pid=
cleanup() {
  trap - INT TERM EXIT
  if [ -n "$pid" ]; then
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    fi
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
}
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap cleanup EXIT

setsid dotnet perf/EpollTransport.Perf/bin/Release/net10.0/EpollTransport.Perf.dll "${arguments[@]}" &
pid=$!
status=0
wait "$pid" || status=$?
cleanup
exit "$status"
