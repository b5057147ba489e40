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
    private ApplicationSchedulingMode _applicationSchedulingMode = ApplicationSchedulingMode.ThreadPool;
    private TimeSpan _inlineStallThreshold = DefaultInlineStallThreshold;

    /// <summary>The default <see cref="InlineStallThreshold"/>: 5 ms (chosen by measurement, see docs/design.md).</summary>
    public static TimeSpan DefaultInlineStallThreshold => TimeSpan.FromMilliseconds(5);

    /// <summary>The smallest accepted <see cref="InlineStallThreshold"/>.</summary>
    public static TimeSpan MinInlineStallThreshold => TimeSpan.FromMilliseconds(1);

    /// <summary>The largest accepted <see cref="InlineStallThreshold"/>.</summary>
    public static TimeSpan MaxInlineStallThreshold => TimeSpan.FromSeconds(10);

    /// <summary>
    /// The default number of epoll loops with <see cref="ApplicationSchedulingMode.ThreadPool"/>: half the
    /// processors, at least 1 and at most 16 (the default Kestrel's libuv transport had). The loops
    /// only move bytes; the pool's workers run the application on the other half, and on a busy box a
    /// loop per processor mostly adds sleep/wake-up cycles (measured in <c>perf/</c>).
    /// </summary>
    public static int DefaultThreadCount => Math.Clamp(Environment.ProcessorCount / 2, 1, 16);

    /// <summary>
    /// The default number of epoll loops when application code runs inline
    /// (<see cref="ApplicationSchedulingMode.Inline"/>, or <see cref="UnsafePreferInlineScheduling"/>):
    /// one per processor, at most 16, because the loops then run the application as well.
    /// </summary>
    public static int DefaultInlineThreadCount => Math.Min(Environment.ProcessorCount, 16);

    /// <summary>
    /// The number of epoll loops. Each loop is a dedicated thread with its own epoll instance,
    /// memory pool and scheduler; a connection stays on the loop that accepted it.
    /// Must be between 1 and <see cref="MaxThreadCount"/>. Unless set, it follows where application
    /// code runs: <see cref="DefaultInlineThreadCount"/> inline, <see cref="DefaultThreadCount"/> on
    /// the thread pool.
    /// </summary>
    public int ThreadCount
    {
        get => _threadCount ?? (RunsApplicationInline ? DefaultInlineThreadCount : DefaultThreadCount);
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
    /// Where application code runs: <see cref="ApplicationSchedulingMode.ThreadPool"/> (the default)
    /// on the thread pool, or <see cref="ApplicationSchedulingMode.Inline"/> on the epoll loop thread,
    /// guarded by the stall watchdog.
    /// <see cref="UnsafePreferInlineScheduling"/> overrides both.
    /// </summary>
    public ApplicationSchedulingMode ApplicationSchedulingMode
    {
        get => _applicationSchedulingMode;
        set
        {
            if (!Enum.IsDefined(value))
            {
                throw new ArgumentOutOfRangeException(nameof(ApplicationSchedulingMode), value,
                    $"{nameof(ApplicationSchedulingMode)} must be {nameof(ApplicationSchedulingMode.Inline)} or {nameof(ApplicationSchedulingMode.ThreadPool)}; it was {value}.");
            }
            _applicationSchedulingMode = value;
        }
    }

    /// <summary>
    /// With <see cref="ApplicationSchedulingMode.Inline"/>: how long application code may hold a loop
    /// thread before the watchdog moves the loop, with all its other connections, to a spare thread
    /// (the held thread finishes its handler and then retires). The watchdog looks every half
    /// threshold, so a stall is noticed after one to one and a half thresholds; GC pauses are not
    /// counted. Between <see cref="MinInlineStallThreshold"/> and <see cref="MaxInlineStallThreshold"/>;
    /// defaults to <see cref="DefaultInlineStallThreshold"/>.
    /// </summary>
    public TimeSpan InlineStallThreshold
    {
        get => _inlineStallThreshold;
        set
        {
            if (value < MinInlineStallThreshold || value > MaxInlineStallThreshold)
            {
                throw new ArgumentOutOfRangeException(nameof(InlineStallThreshold), value,
                    $"{nameof(InlineStallThreshold)} must be between {MinInlineStallThreshold.TotalMilliseconds} ms and {MaxInlineStallThreshold.TotalSeconds} s; it was {value.TotalMilliseconds} ms.");
            }
            _inlineStallThreshold = value;
        }
    }

    /// <summary>
    /// With <see cref="ApplicationSchedulingMode.ThreadPool"/>: a loop with nothing to do but one
    /// connection's newly arrived request (the only connection with traffic lately, nothing queued, none
    /// of its requests out on the thread pool) runs that request's application code itself, under the same
    /// stall watchdog as <see cref="ApplicationSchedulingMode.Inline"/>, instead of handing it to the
    /// thread pool. A quiet service (one keep-alive connection, a health check, a client that sends one
    /// request at a time) then pays no thread hop per request; as soon as a second connection has
    /// traffic, every request goes to the thread pool as before. Application code that holds the loop
    /// while other work waits for it (a second connection, a queued send), or that blocks past
    /// <see cref="InlineStallThreshold"/>, loses the loop to a spare thread and goes on there, and its
    /// connection runs on the thread pool from then on. On by default; <c>false</c> sends every request
    /// to the thread pool, like the Sockets transport, and starts no watchdog or spare thread.
    /// </summary>
    public bool InlineWhenQuiet { get; set; } = true;

    /// <summary>
    /// Runs application code inline on the epoll loop thread with no watchdog, the same meaning as
    /// <c>SocketTransportOptions.UnsafePreferInlineScheduling</c>: any handler that blocks stalls every
    /// connection on its loop, and a synchronous request-body read can wait forever for bytes only
    /// that loop could read. Overrides <see cref="ApplicationSchedulingMode"/>. Off by default.
    /// </summary>
    public bool UnsafePreferInlineScheduling { get; set; }

    private bool RunsApplicationInline => UnsafePreferInlineScheduling || ApplicationSchedulingMode == ApplicationSchedulingMode.Inline;

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

    /// <summary>Tests only: the faults and observation points a test injects (see <see cref="TestHooks"/>).</summary>
    internal TestHooks? Hooks { get; set; }

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
