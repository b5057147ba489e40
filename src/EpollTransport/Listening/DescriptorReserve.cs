using EpollTransport.Interop;

namespace EpollTransport.Listening;

/// <summary>
/// Keeps the last descriptors below <c>RLIMIT_NOFILE</c> out of the connections' reach. The .NET
/// runtime itself needs descriptors to keep working (with none left it aborts), and so does the
/// application (files, outbound connections), so connections stop short of the limit by a reserve.
/// <para>
/// The check costs one comparison per accept: the kernel hands out the lowest free descriptor number,
/// so an accepted descriptor numbered <c>n</c> means every number below <c>n</c> is in use and at most
/// <c>limit - n</c> are free. A connection whose descriptor lands in the top <see cref="Reserve"/>
/// numbers is therefore one the process cannot afford.
/// </para>
/// </summary>
internal sealed class DescriptorReserve
{
    /// <summary>
    /// The reserve is a sixteenth of the limit, but never less than this: the runtime keeps descriptors
    /// for every assembly it loads, and loads more under a server's first load (docs/performance.md,
    /// "Descriptor limit", has what DemoWeb opens).
    /// </summary>
    public const int SmallestReserve = 64;

    /// <summary>…and never more than this (a large limit does not need a large reserve).</summary>
    public const int LargestReserve = 256;

    private readonly Func<long> _readLimit;
    private int _firstRefused;

    /// <param name="readLimit">Reads the soft limit; the real one unless a test gives another.</param>
    public DescriptorReserve(Func<long>? readLimit = null)
    {
        _readLimit = readLimit ?? DescriptorLimit.SoftLimit;
        Refresh();
    }

    /// <summary>The soft limit as last read.</summary>
    public long Limit { get; private set; }

    /// <summary>How many descriptors below <see cref="Limit"/> connections leave alone.</summary>
    public int Reserve { get; private set; }

    /// <summary>The reserve for a given limit.</summary>
    public static int ReserveFor(long limit) => (int)Math.Clamp(limit / 16, SmallestReserve, LargestReserve);

    /// <summary>
    /// Reads the limit again: once per accept batch, so a limit an operator changes on the live process
    /// (<c>prlimit --pid</c>) takes effect at the next connection.
    /// </summary>
    public void Refresh()
    {
        long limit = _readLimit();
        int reserve = ReserveFor(limit);
        Limit = limit;
        Reserve = reserve;
        _firstRefused = (int)Math.Clamp(limit - reserve, 0, int.MaxValue);
    }

    /// <summary>Whether a connection that was given descriptor <paramref name="fd"/> may be kept.</summary>
    public bool Admits(int fd) => fd < _firstRefused;
}
