using System.Text.RegularExpressions;

namespace EpollTransport.Perf;

/// <summary>
/// Where a server's CPU went, from <c>perf script -F comm,tid,ip,sym</c> output: each sample is one slice
/// of CPU time on one thread, and lands in exactly one part. Frames decide before thread names, because
/// with inline scheduling the loops (and, with inline completions, the Sockets engine thread) run
/// Kestrel and the application too.
/// </summary>
internal sealed partial record CpuProfileSplit(int Transport, int ThreadPool, int Gc, int Jit, int KestrelAndApp)
{
    public int Samples => Transport + ThreadPool + Gc + Jit + KestrelAndApp;

    public static CpuProfileSplit Parse(string perfScriptOutput)
    {
        int transport = 0, threadPool = 0, gc = 0, jit = 0, rest = 0;
        foreach (var (thread, frames) in ReadSamples(perfScriptOutput))
        {
            switch (Classify(thread, frames))
            {
                case CpuPart.Transport: transport++; break;
                case CpuPart.ThreadPool: threadPool++; break;
                case CpuPart.Gc: gc++; break;
                case CpuPart.Jit: jit++; break;
                default: rest++; break;
            }
        }
        return new CpuProfileSplit(transport, threadPool, gc, jit, rest);
    }

    /// <summary>
    /// Transport: inside a socket syscall on any thread, with the innermost managed frame in transport
    /// code, or on a transport thread outside managed code. Thread pool: the innermost managed frame in
    /// the pool's dispatch or idle wait, or a worker outside managed code. Everything else is Kestrel,
    /// the application and the runtime under them: what no transport can make cheaper.
    /// </summary>
    public static CpuPart Classify(string thread, IReadOnlyList<string> frames)
    {
        if (thread.Contains("GC", StringComparison.Ordinal) || frames.Any(f => GcCode().IsMatch(f)))
        {
            return CpuPart.Gc;
        }
        if (thread.StartsWith(".NET Tiered", StringComparison.Ordinal))
        {
            return CpuPart.Jit;
        }
        if (frames.Any(f => SocketSyscall().IsMatch(f)))
        {
            return CpuPart.Transport;
        }
        string? innermost = frames.FirstOrDefault(f => ManagedFrame().IsMatch(f));
        if (innermost is null)
        {
            return thread.StartsWith("epoll loop", StringComparison.Ordinal) || thread.StartsWith(".NET Sockets", StringComparison.Ordinal) ? CpuPart.Transport
                : thread.Contains("TP Worker", StringComparison.Ordinal) ? CpuPart.ThreadPool
                : CpuPart.KestrelAndApp;
        }
        return TransportCode().IsMatch(innermost) ? CpuPart.Transport
            : ThreadPoolCode().IsMatch(innermost) ? CpuPart.ThreadPool
            : CpuPart.KestrelAndApp;
    }

    /// <summary>(thread name, frames innermost first) per sample; perf script separates samples with a blank line.</summary>
    private static IEnumerable<(string Thread, List<string> Frames)> ReadSamples(string output)
    {
        string? thread = null;
        var frames = new List<string>();
        foreach (string line in output.Split('\n'))
        {
            if (line.Trim().Length == 0)
            {
                if (thread is not null)
                {
                    yield return (thread, frames);
                }
                thread = null;
                frames = [];
            }
            else if (!char.IsWhiteSpace(line[0]))
            {
                // "<thread name> <tid>": the name may contain spaces, the tid is the last field.
                int lastSpace = line.TrimEnd().LastIndexOf(' ');
                thread = lastSpace > 0 ? line[..lastSpace].TrimEnd() : line.Trim();
                frames = [];
            }
            else if (thread is not null)
            {
                // "<ip> <symbol>"
                string frame = line.Trim();
                int space = frame.IndexOf(' ');
                frames.Add(space > 0 ? frame[(space + 1)..] : string.Empty);
            }
        }
        if (thread is not null)
        {
            yield return (thread, frames);
        }
    }

    [GeneratedRegex(@"__x64_sys_(sendmsg|sendto|recvfrom|recvmsg|readv|writev|read|write|epoll_wait|epoll_ctl|accept4|shutdown)$")]
    private static partial Regex SocketSyscall();

    [GeneratedRegex(@"\[(EpollTransport|System\.Net\.Sockets|Microsoft\.AspNetCore\.Server\.Kestrel\.Transport\.Sockets)\]")]
    private static partial Regex TransportCode();

    [GeneratedRegex(@"System\.Threading\.(ThreadPoolWorkQueue|PortableThreadPool|LowLevelLifoSemaphore|LowLevelSpinWaiter|ThreadPool\b)")]
    private static partial Regex ThreadPoolCode();

    // perf's map of JIT-compiled code names frames "... [Assembly.Name] Namespace.Type::Method(...)".
    [GeneratedRegex(@"\[[A-Za-z][\w.]*\] ")]
    private static partial Regex ManagedFrame();

    [GeneratedRegex(@"(WKS|SVR)::(gc_heap|GCHeap)")]
    private static partial Regex GcCode();
}

internal enum CpuPart
{
    Transport,
    ThreadPool,
    Gc,
    Jit,
    KestrelAndApp,
}
