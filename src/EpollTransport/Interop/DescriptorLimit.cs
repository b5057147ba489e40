namespace EpollTransport.Interop;

/// <summary>The process's descriptor limit (<c>RLIMIT_NOFILE</c>) and how many descriptors are open.</summary>
internal static unsafe class DescriptorLimit
{
    private const int RLIMIT_NOFILE = 7;

    /// <summary>
    /// The soft limit, which is what <c>accept4</c> runs into (<c>EMFILE</c>); read every time, because
    /// an operator may change it on a live process (<c>prlimit --pid</c>). An unlimited or unreadable
    /// limit reads as <see cref="int.MaxValue"/>: descriptor numbers are ints.
    /// </summary>
    public static long SoftLimit()
    {
        Libc.ResourceLimit limit;
        if (Libc.getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.Current > int.MaxValue)
        {
            return int.MaxValue;
        }
        return (long)limit.Current;
    }

    /// <summary>Descriptors open in this process now (entries of /proc/self/fd); -1 if that cannot be read. For log lines, not hot paths.</summary>
    public static int OpenCount()
    {
        try
        {
            // The enumeration's own directory descriptor is counted too; one off is fine for an operator.
            return Directory.EnumerateFileSystemEntries("/proc/self/fd").Count();
        }
        catch (IOException)
        {
            return -1;
        }
        catch (UnauthorizedAccessException)
        {
            return -1;
        }
    }
}
