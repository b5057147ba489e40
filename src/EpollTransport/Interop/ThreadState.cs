namespace EpollTransport.Interop;

/// <summary>What the kernel says a thread of this process is doing, from /proc/self/task/TID/stat.</summary>
internal static class ThreadState
{
    /// <summary>The calling thread's kernel thread id.</summary>
    public static int CurrentThreadId() => Libc.gettid();

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
