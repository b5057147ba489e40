namespace EpollTransport;

/// <summary>How a loop runs application code.</summary>
internal enum LoopScheduling
{
    /// <summary>On the loop thread, each continuation watched by the stall watchdog.</summary>
    Inline,

    /// <summary>On the thread pool (<see cref="Scheduling.ThreadPoolScheduling"/>).</summary>
    ThreadPool,

    /// <summary>On the loop thread with no watchdog (UnsafePreferInlineScheduling).</summary>
    UnsafeInline,
}

/// <summary>
/// The options as the loops use them, captured once at bind time so that later changes to the options
/// object cannot reach running loops half-way.
/// </summary>
internal sealed class TransportSettings
{
    /// <summary>
    /// Kestrel's switch for sending FIN instead of RST when a connection is aborted with an error; the
    /// Sockets transport reads the same switch.
    /// </summary>
    public const string FinOnErrorSwitch = "Microsoft.AspNetCore.Server.Kestrel.FinOnError";

    public TransportSettings(EpollTransportOptions options)
    {
        ThreadCount = options.ThreadCount;
        Scheduling = options.UnsafePreferInlineScheduling ? LoopScheduling.UnsafeInline
            : options.ApplicationSchedulingMode == ApplicationSchedulingMode.ThreadPool ? LoopScheduling.ThreadPool
            : LoopScheduling.Inline;
        InlineStallThreshold = options.InlineStallThreshold;
        InlineWhenQuiet = Scheduling == LoopScheduling.ThreadPool && options.InlineWhenQuiet;
        MaxReadBufferSize = options.MaxReadBufferSize ?? 0;
        MaxWriteBufferSize = options.MaxWriteBufferSize ?? 0;
        Backlog = options.Backlog;
        NoDelay = options.NoDelay;
        ReusePort = options.ReusePort;
        Hooks = options.Hooks;
        FinOnError = AppContext.TryGetSwitch(FinOnErrorSwitch, out bool finOnError) && finOnError;
    }

    public int ThreadCount { get; }

    public LoopScheduling Scheduling { get; }

    /// <summary>Whether application continuations run on the loop thread (guarded or not).</summary>
    public bool RunsApplicationInline => Scheduling != LoopScheduling.ThreadPool;

    public TimeSpan InlineStallThreshold { get; }

    /// <summary>Thread-pool mode runs a quiet loop's lone request inline (<see cref="EpollTransportOptions.InlineWhenQuiet"/>).</summary>
    public bool InlineWhenQuiet { get; }

    /// <summary>Whether application code may run on a loop thread under the stall watchdog (spare threads, handoffs).</summary>
    public bool Watched => Scheduling == LoopScheduling.Inline || InlineWhenQuiet;

    /// <summary>0 disables read backpressure, as with the pipe's pause threshold.</summary>
    public long MaxReadBufferSize { get; }

    /// <summary>0 disables write backpressure.</summary>
    public long MaxWriteBufferSize { get; }

    public int Backlog { get; }

    public bool NoDelay { get; }

    public bool ReusePort { get; }

    public bool FinOnError { get; }

    /// <summary>Null outside the test suite.</summary>
    public TestHooks? Hooks { get; }
}
