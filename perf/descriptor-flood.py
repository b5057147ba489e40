#!/usr/bin/env python3
"""Descriptor exhaustion, side by side: DemoWeb under a low `prlimit --nofile`, flooded past the limit.

For each transport it reports what the flood's clients saw (served, reset, still waiting), the server's
CPU while saturated (with one new client every 100 ms), whether it is still alive, and how long after the
flood closed it served again. DemoWeb.Tests' DescriptorLimitTests asserts the epoll side; this script is
the measurement, for Sockets too.

Usage: perf/descriptor-flood.py [--limit 512] [--flood 700] [--transports epoll,sockets]
(build DemoWeb first: dotnet build -c Release src/DemoWeb)
"""
import argparse
import os
import re
import selectors
import socket
import subprocess
import sys
import time

DEMO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "DemoWeb", "bin", "Release", "net10.0", "DemoWeb.dll")
REQUEST = b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def outcome(sock, timeout):
    """'served', 'reset', 'closed' or 'waiting' (nothing within timeout)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(1024)
            if not chunk:
                return "closed"
            data += chunk
        return "served"
    except ConnectionResetError:
        return "reset"
    except socket.timeout:
        return "waiting"


def resolve_all(socks, counts, deadline):
    """The outcome of every flood socket, all at once: each until it resolves or the deadline passes."""
    pending = {s: b"" for s in socks}
    poller = selectors.DefaultSelector()  # epoll: no FD_SETSIZE limit
    for s in socks:
        s.setblocking(False)
        poller.register(s, selectors.EVENT_READ)
    while pending and time.monotonic() < deadline:
        for key, _ in poller.select(0.2):
            s = key.fileobj
            if s not in pending:
                continue
            try:
                chunk = s.recv(1024)
            except ConnectionResetError:
                counts["reset"] += 1
                del pending[s]
                poller.unregister(s)
                continue
            if not chunk:
                counts["closed"] += 1
                del pending[s]
                poller.unregister(s)
                continue
            pending[s] += chunk
            if b"\r\n\r\n" in pending[s]:
                counts["served"] += 1
                del pending[s]
                poller.unregister(s)
    counts["waiting"] += len(pending)
    poller.close()


def connect(port, timeout=3.0):
    s = socket.socket()
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    try:
        s.sendall(REQUEST)
    except (ConnectionResetError, BrokenPipeError):
        pass  # refused before the request got there: the read reports the reset
    return s


def run(transport, limit, flood):
    proc = subprocess.Popen(
        ["prlimit", f"--nofile={limit}:{limit}", "dotnet", DEMO, "--transport", transport, "--urls", "http://127.0.0.1:0",
         "--echo-port", "0", "--h2c-port", "0", "--threads", "1", "--Logging:LogLevel:Default=Warning"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    port = None
    output = []
    for line in proc.stdout:
        output.append(line)
        m = re.match(r"DemoWeb http: http://127\.0\.0\.1:(\d+)", line)
        if m:
            port = int(m.group(1))
        if line.startswith("DemoWeb is ready"):
            break
    os.set_blocking(proc.stdout.fileno(), False)
    baseline = len(os.listdir(f"/proc/{proc.pid}/fd"))
    socks, counts = [], {"served": 0, "reset": 0, "closed": 0, "waiting": 0, "connect failed": 0}
    started = time.monotonic()
    for _ in range(flood):
        try:
            socks.append(connect(port))
        except OSError:
            counts["connect failed"] += 1
    resolve_all(socks, counts, deadline=time.monotonic() + 10.0)
    flood_seconds = time.monotonic() - started

    cpu0, t0, probes = cpu_seconds(proc.pid), time.monotonic(), {}
    while time.monotonic() - t0 < 3.0:
        try:
            with connect(port, 2.0) as p:
                r = outcome(p, 2.0)
        except (ConnectionResetError, BrokenPipeError):
            r = "reset"
        except OSError:
            r = "connect failed"
        probes[r] = probes.get(r, 0) + 1
        time.sleep(0.1)
    cpu_share = (cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0)
    alive = proc.poll() is None
    for s in socks:
        s.close()

    recovered = None
    t1 = time.monotonic()
    while alive and time.monotonic() - t1 < 20:
        try:
            with connect(port, 2.0) as c:
                if outcome(c, 2.0) == "served":
                    recovered = time.monotonic() - t1
                    break
        except OSError:
            pass
        time.sleep(0.05)
    alive = proc.poll() is None
    proc.kill()
    try:
        rest = proc.stdout.read() or ""
    except (OSError, TypeError):
        rest = ""
    log = "".join(output) + rest
    with open(f"/tmp/descriptor-flood-{transport}.log", "w") as f:
        f.write(log)
    warnings = sum(1 for l in log.splitlines() if l.startswith("warn:") or l.startswith("fail:"))
    died = "Out of memory" in log or not alive
    print(f"| {transport} | {baseline} | {counts['served']} / {counts['reset'] + counts['closed']} / {counts['waiting'] + counts['connect failed']} "
          f"| {flood_seconds:.1f} s | {', '.join(f'{k} {v}' for k, v in probes.items())} | {100 * cpu_share:.0f}% "
          f"| {'died' if died else 'alive'} | {'—' if recovered is None else f'{1000 * recovered:.0f} ms'} | {warnings} |")
    sys.stdout.flush()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=512)
    parser.add_argument("--flood", type=int, default=700)
    parser.add_argument("--transports", default="epoll,sockets")
    args = parser.parse_args()
    print(f"DemoWeb under prlimit --nofile={args.limit}:{args.limit}, {args.flood} connections each sending one request and held open.\n")
    print("| transport | fds at start | flood: served / refused / left waiting | flood resolved in | new clients while saturated (3 s) | server CPU while saturated | process | served again after the flood closed | warning/error log lines |")
    print("|---|---|---|---|---|---|---|---|---|")
    for transport in args.transports.split(","):
        run(transport, args.limit, args.flood)
    print("\n(each server's log: /tmp/descriptor-flood-<transport>.log)")


if __name__ == "__main__":
    main()
