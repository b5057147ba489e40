#!/usr/bin/env python3
"""Splits `perf script -F comm,tid,ip,sym` output (stdin) into where a server's CPU went.

Each sample is one slice of CPU time on one of the server's threads. It counts as:
  transport    inside a socket syscall on any thread, with its innermost managed frame in transport
               code, or on the transport's own threads (epoll loops, the Sockets engine thread)
               without a managed frame;
  thread pool  its innermost managed frame in the thread pool's dispatch or idle wait (spinning,
               sched_yield), or a worker with no managed frame at all;
  GC / JIT     the collector's and the tiered compiler's threads, or their code on other threads;
  Kestrel+app  everything else: Kestrel's protocol code, routing, the endpoint, the runtime under them.
Usage: perf script ... | profile_share.py CONFIGURATION REQUESTS_PER_SECOND
"""
import re
import sys

TRANSPORT_THREADS = ("epoll loop", ".NET Sockets")
SOCKET_SYSCALLS = re.compile(
    r"__x64_sys_(sendmsg|sendto|recvfrom|recvmsg|readv|writev|read|write|epoll_wait|epoll_ctl|accept4|shutdown)$")
TRANSPORT_CODE = re.compile(r"\[(EpollTransport|System\.Net\.Sockets|Microsoft\.AspNetCore\.Server\.Kestrel\.Transport\.Sockets)\]")
THREAD_POOL_CODE = re.compile(
    r"System\.Threading\.(ThreadPoolWorkQueue|PortableThreadPool|LowLevelLifoSemaphore|LowLevelSpinWaiter|ThreadPool\b|ThreadPoolWorkQueueThreadLocals)")
MANAGED_FRAME = re.compile(r"\[[A-Za-z][\w.]*\] ")
GC_CODE = re.compile(r"(WKS|SVR)::(gc_heap|GCHeap)|GCHeap::|gc_heap::")


def samples(lines):
    """Yields (thread name, [frame symbols, leaf first]) per sample."""
    comm, frames = None, []
    for line in lines:
        if not line.strip():
            if comm is not None:
                yield comm, frames
            comm, frames = None, []
        elif not line[0].isspace():
            # "<comm> <tid>": the thread name may contain spaces, the tid is the last field.
            comm, frames = line.rsplit(None, 1)[0], []
        elif comm is not None:
            parts = line.strip().split(" ", 1)
            frames.append(parts[1] if len(parts) > 1 else "")
    if comm is not None:
        yield comm, frames


def classify(comm, frames):
    # Frames decide before thread names: with inline scheduling the loops (and, with inline
    # completions, the Sockets engine thread) run Kestrel and the app too.
    if "GC" in comm:
        return "gc"
    if comm.startswith(".NET Tiered"):
        return "jit"
    if any(SOCKET_SYSCALLS.search(frame) for frame in frames):
        return "transport"
    if any(GC_CODE.search(frame) for frame in frames):
        return "gc"
    innermost = next((frame for frame in frames if MANAGED_FRAME.search(frame)), None)
    if innermost is None:
        if comm.startswith(TRANSPORT_THREADS):
            return "transport"
        return "thread pool" if "TP Worker" in comm else "rest"
    if TRANSPORT_CODE.search(innermost):
        return "transport"
    if THREAD_POOL_CODE.search(innermost):
        return "thread pool"
    return "rest"


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: perf script ... | profile_share.py CONFIGURATION REQUESTS_PER_SECOND")
    counts = {"transport": 0, "thread pool": 0, "gc": 0, "jit": 0, "rest": 0}
    for comm, frames in samples(sys.stdin):
        counts[classify(comm, frames)] += 1
    total = sum(counts.values())
    if total == 0:
        sys.exit(f"profile_share.py: no samples for {sys.argv[1]} (did perf record run?)")

    def share(key):
        return f"{100 * counts[key] / total:.1f}%"

    print(f"{sys.argv[1]:<16} {sys.argv[2]:>12} {share('transport'):>10} {share('thread pool'):>12} "
          f"{share('gc'):>8} {share('jit'):>8} {share('rest'):>12}   ({total} samples)")


if __name__ == "__main__":
    main()
