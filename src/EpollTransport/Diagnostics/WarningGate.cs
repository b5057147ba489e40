namespace EpollTransport.Diagnostics;

/// <summary>
/// At most one warning per interval, however many threads and retries ask: an operator needs the line,
/// not a log flood while a condition lasts.
/// </summary>
internal sealed class WarningGate(TimeSpan interval)
{
    /// <summary>The interval the transport's repeated warnings use.</summary>
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(10);

    private const long Never = long.MinValue;
    private readonly long _intervalMilliseconds = (long)interval.TotalMilliseconds;
    private long _lastTicks = Never;

    public WarningGate()
        : this(DefaultInterval)
    {
    }

    /// <summary>Whether the caller may warn now; if so, the next turn comes one interval later.</summary>
    public bool TryTakeTurn()
    {
        long now = Environment.TickCount64;
        long last = Interlocked.Read(ref _lastTicks);
        // "Never" is compared, not subtracted: now - long.MinValue overflows to a negative number, which
        // would look like "just warned" forever.
        if (last != Never && now - last < _intervalMilliseconds)
        {
            return false;
        }
        return Interlocked.CompareExchange(ref _lastTicks, now, last) == last;
    }
}
