namespace EpollTransport.Interop;

/// <summary>What the kernel says a thread of this process is doing, from /proc/self/task/TID/stat.</summary>
internal static class ThreadState
{
    /// <summary>The calling thread's kernel thread id.</summary>
    public static int CurrentThreadId() => Libc.gettid();

    /// <summary>
    /// How long a thread of this process has run on a CPU so far, in nanoseconds, or -1 if unknown (the
    /// thread is gone). Time spent runnable but waiting for a CPU (preempted) does not count, which is
    /// the point: it tells a handler that computes from one that a busy host keeps off the CPU. Read from
    /// the thread's own CPU clock, whose id the kernel derives from its thread id (CPUCLOCK_SCHED, per
    /// thread: <c>(~tid &lt;&lt; 3) | 6</c>, what glibc's <c>pthread_getcpuclockid</c> returns); one
    /// <c>clock_gettime</c>, no file to open.
    /// </summary>
    public static unsafe long OnCpuNanoseconds(int threadId)
    {
        Libc.TimeSpec time;
        return Libc.clock_gettime((~threadId << 3) | 6, &time) == 0 ? (time.Seconds * 1_000_000_000) + time.Nanoseconds : -1;
    }

    /// <summary>
    /// Whether the thread is waiting (sleeping in a wait, a lock or a blocking call: state S, D or T)
    /// rather than running or runnable (R). Unknown (the thread is gone, or /proc unreadable) counts
    /// as waiting.
    /// </summary>
    public static bool IsWaiting(int threadId)
    {
        Span<byte> buffer = stackalloc byte[512];
        int length;
        try
        {
            using Microsoft.Win32.SafeHandles.SafeFileHandle handle = File.OpenHandle($"/proc/self/task/{threadId}/stat");
            length = RandomAccess.Read(handle, buffer, 0);
        }
        catch (IOException)
        {
            return true;
        }
        catch (UnauthorizedAccessException)
        {
            return true;
        }
        // "tid (comm) S ...": the state follows the last ')' (the name itself may contain one).
        ReadOnlySpan<byte> stat = buffer[..length];
        int close = stat.LastIndexOf((byte)')');
        return close < 0 || close + 2 >= stat.Length || stat[close + 2] != (byte)'R';
    }
}
