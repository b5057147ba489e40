namespace EpollTransport;

/// <summary>
/// Options for the epoll transport. The names and defaults follow
/// <c>SocketTransportOptions</c> wherever the two transports share a concept.
/// </summary>
public sealed class EpollTransportOptions
{
    /// <summary>The largest accepted <see cref="ThreadCount"/>.</summary>
    public const int MaxThreadCount = 256;

    private int? _threadCount;
    private long? _maxReadBufferSize = 1024 * 1024;
    private long? _maxWriteBufferSize = 64 * 1024;
    private int _backlog = 512;

    /// <summary>
    /// The default number of epoll loops when application code runs on the thread pool: half the
    /// processors, at least 1 and at most 16 (the default Kestrel's libuv transport had). The loops
    /// only move bytes; the pool's workers run the application on the other half, and on a busy box a
    /// loop per processor mostly adds sleep/wake-up cycles (measured in <c>perf/</c>).
    /// </summary>
    public static int DefaultThreadCount => Math.Clamp(Environment.ProcessorCount / 2, 1, 16);

    /// <summary>
    /// The default number of epoll loops with <see cref="UnsafePreferInlineScheduling"/>: one per
    /// processor, at most 16, because the loops then run the application as well.
    /// </summary>
    public static int DefaultInlineThreadCount => Math.Min(Environment.ProcessorCount, 16);

    /// <summary>
    /// The number of epoll loops. Each loop is a dedicated thread with its own epoll instance,
    /// memory pool and scheduler; a connection stays on the loop that accepted it.
    /// Must be between 1 and <see cref="MaxThreadCount"/>. Unless set, it follows
    /// <see cref="UnsafePreferInlineScheduling"/>: <see cref="DefaultThreadCount"/> without it,
    /// <see cref="DefaultInlineThreadCount"/> with it.
    /// </summary>
    public int ThreadCount
    {
        get => _threadCount ?? (UnsafePreferInlineScheduling ? DefaultInlineThreadCount : DefaultThreadCount);
        set
        {
            if (value < 1 || value > MaxThreadCount)
            {
                throw new ArgumentOutOfRangeException(nameof(ThreadCount), value,
                    $"{nameof(ThreadCount)} must be between 1 and {MaxThreadCount}; it was {value}.");
            }
            _threadCount = value;
        }
    }

    /// <summary>
    /// Runs application code (Kestrel's request processing and everything above it) inline on the
    /// epoll loop thread instead of the thread pool. Faster for short, non-blocking handlers; any
    /// handler that blocks stalls every connection on its loop. Off by default, like
    /// <c>SocketTransportOptions.UnsafePreferInlineScheduling</c>.
    /// </summary>
    public bool UnsafePreferInlineScheduling { get; set; }

    /// <summary>
    /// The most received bytes buffered per connection before the transport stops reading from the
    /// socket (resumes at half). Defaults to 1 MiB; <c>null</c> means unbounded.
    /// </summary>
    public long? MaxReadBufferSize
    {
        get => _maxReadBufferSize;
        set => _maxReadBufferSize = ValidateBufferSize(value, nameof(MaxReadBufferSize));
    }

    /// <summary>
    /// The most unsent bytes buffered per connection before the application's <c>FlushAsync</c>
    /// waits (resumes at half). Defaults to 64 KiB; <c>null</c> means unbounded.
    /// </summary>
    public long? MaxWriteBufferSize
    {
        get => _maxWriteBufferSize;
        set => _maxWriteBufferSize = ValidateBufferSize(value, nameof(MaxWriteBufferSize));
    }

    /// <summary>The listen backlog. Defaults to 512, like the Sockets transport.</summary>
    public int Backlog
    {
        get => _backlog;
        set
        {
            if (value < 1)
            {
                throw new ArgumentOutOfRangeException(nameof(Backlog), value,
                    $"{nameof(Backlog)} must be at least 1; it was {value}.");
            }
            _backlog = value;
        }
    }

    /// <summary>Sets <c>TCP_NODELAY</c> on TCP connections. Defaults to <c>true</c>.</summary>
    public bool NoDelay { get; set; } = true;

    /// <summary>
    /// Opts in to <c>SO_REUSEPORT</c>: each loop gets its own listening socket on the port, and other
    /// processes that also set <c>SO_REUSEPORT</c> may bind the same port and share its connections.
    /// Off by default, so binding a port that another process holds fails with an address-in-use error
    /// and a single listening socket is shared by all loops.
    /// </summary>
    public bool ReusePort { get; set; }

    /// <summary>
    /// Tests only: runs on the loop thread before a connection handles readiness, so a test can make
    /// that handling throw and check that only this connection fails.
    /// </summary>
    internal Action<Microsoft.AspNetCore.Connections.ConnectionContext>? ConnectionEventsTestHook { get; set; }

    private static long? ValidateBufferSize(long? value, string name)
    {
        if (value is < 0)
        {
            throw new ArgumentOutOfRangeException(name, value,
                $"{name} must be zero or more, or null for unbounded; it was {value}.");
        }
        return value;
    }
}
