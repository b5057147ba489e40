namespace EpollTransport;

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
        UnsafePreferInlineScheduling = options.UnsafePreferInlineScheduling;
        MaxReadBufferSize = options.MaxReadBufferSize ?? 0;
        MaxWriteBufferSize = options.MaxWriteBufferSize ?? 0;
        Backlog = options.Backlog;
        NoDelay = options.NoDelay;
        ReusePort = options.ReusePort;
        ConnectionEventsTestHook = options.ConnectionEventsTestHook;
        FinOnError = AppContext.TryGetSwitch(FinOnErrorSwitch, out bool finOnError) && finOnError;
    }

    public int ThreadCount { get; }

    public bool UnsafePreferInlineScheduling { get; }

    /// <summary>0 disables read backpressure, as with the pipe's pause threshold.</summary>
    public long MaxReadBufferSize { get; }

    /// <summary>0 disables write backpressure.</summary>
    public long MaxWriteBufferSize { get; }

    public int Backlog { get; }

    public bool NoDelay { get; }

    public bool ReusePort { get; }

    public bool FinOnError { get; }

    public Action<Microsoft.AspNetCore.Connections.ConnectionContext>? ConnectionEventsTestHook { get; }
}
