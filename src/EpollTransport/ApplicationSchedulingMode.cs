namespace EpollTransport;

/// <summary>Where the epoll transport runs application code: Kestrel's request processing and everything above it.</summary>
public enum ApplicationSchedulingMode
{
    /// <summary>
    /// On the thread pool, like Kestrel's Sockets transport by default: every read hops from the loop
    /// thread to a pool thread and every response back, which costs CPU per request but keeps loop
    /// threads out of application code entirely. The default, and the enum's zero value, so that
    /// <c>default(ApplicationSchedulingMode)</c> and a configuration section that leaves the key out
    /// mean the same as the documented default.
    /// </summary>
    ThreadPool = 0,

    /// <summary>
    /// On the epoll loop thread that read the data, with no thread hop per request. A watchdog hands
    /// the loop to a spare thread when application code holds it longer than
    /// <see cref="EpollTransportOptions.InlineStallThreshold"/>, so a handler that blocks costs one
    /// thread, never the other connections of its loop.
    /// </summary>
    Inline = 1,
}
