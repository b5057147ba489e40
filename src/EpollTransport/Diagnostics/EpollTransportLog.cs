using Microsoft.Extensions.Logging;

namespace EpollTransport.Diagnostics;

/// <summary>
/// The transport's log events. Ids 4–19 mirror the Sockets transport's events of the same name, so
/// tooling and tests written against Sockets find their counterparts here. A client reset is never
/// logged above Debug.
/// </summary>
internal static partial class EpollTransportLog
{
    public const string Category = "EpollTransport";

    [LoggerMessage(4, LogLevel.Debug, @"Connection id ""{ConnectionId}"" paused.", EventName = "ConnectionPause")]
    public static partial void ConnectionPause(ILogger logger, string connectionId);

    [LoggerMessage(5, LogLevel.Debug, @"Connection id ""{ConnectionId}"" resumed.", EventName = "ConnectionResume")]
    public static partial void ConnectionResume(ILogger logger, string connectionId);

    [LoggerMessage(6, LogLevel.Debug, @"Connection id ""{ConnectionId}"" received FIN.", EventName = "ConnectionReadFin")]
    public static partial void ConnectionReadFin(ILogger logger, string connectionId);

    [LoggerMessage(7, LogLevel.Debug, @"Connection id ""{ConnectionId}"" sending FIN because: ""{Reason}""", EventName = "ConnectionWriteFin")]
    public static partial void ConnectionWriteFin(ILogger logger, string connectionId, string reason);

    [LoggerMessage(8, LogLevel.Debug, @"Connection id ""{ConnectionId}"" sending RST because: ""{Reason}""", EventName = "ConnectionWriteRst")]
    public static partial void ConnectionWriteRst(ILogger logger, string connectionId, string reason);

    [LoggerMessage(14, LogLevel.Debug, @"Connection id ""{ConnectionId}"" communication error.", EventName = "ConnectionError")]
    public static partial void ConnectionError(ILogger logger, string connectionId, Exception exception);

    [LoggerMessage(19, LogLevel.Debug, @"Connection id ""{ConnectionId}"" reset.", EventName = "ConnectionReset")]
    public static partial void ConnectionReset(ILogger logger, string connectionId);

    [LoggerMessage(30, LogLevel.Debug, "Epoll loop {LoopIndex} started.", EventName = "LoopStarted")]
    public static partial void LoopStarted(ILogger logger, int loopIndex);

    [LoggerMessage(31, LogLevel.Debug, "Epoll loop {LoopIndex} stopped; {ConnectionCount} connection(s) were still open and have been aborted.", EventName = "LoopStopped")]
    public static partial void LoopStopped(ILogger logger, int loopIndex, int connectionCount);

    [LoggerMessage(32, LogLevel.Warning, "Accepting on {EndPoint} failed with {Errno}; pausing accepts on this loop for {DelayMilliseconds} ms.", EventName = "AcceptFailed")]
    public static partial void AcceptFailed(ILogger logger, string endPoint, string errno, int delayMilliseconds);

    [LoggerMessage(40, LogLevel.Warning, "Connections on {EndPoint} reached the descriptor limit: {OpenDescriptors} of {Limit} descriptors are open (RLIMIT_NOFILE) and the last {Reserve} are kept for the runtime and the application, so new connections are reset ({Refused} so far on loop {LoopIndex}). Accepts pause for {DelayMilliseconds} ms and resume by themselves once descriptors are free. Raise the limit (systemd LimitNOFILE=, ulimit -n, docker --ulimit nofile=) if this is normal load.", EventName = "DescriptorLimitReached")]
    public static partial void DescriptorLimitReached(ILogger logger, string endPoint, int openDescriptors, long limit, int reserve, long refused, int loopIndex, int delayMilliseconds);

    [LoggerMessage(33, LogLevel.Debug, "A pending connection on {EndPoint} was dropped before it could be accepted ({Errno}).", EventName = "AcceptRetried")]
    public static partial void AcceptRetried(ILogger logger, string endPoint, string errno);

    [LoggerMessage(34, LogLevel.Error, "Unexpected error on epoll loop {LoopIndex}; the loop keeps running.", EventName = "LoopError")]
    public static partial void LoopError(ILogger logger, int loopIndex, Exception exception);

    [LoggerMessage(35, LogLevel.Error, @"Connection id ""{ConnectionId}"" failed unexpectedly and was aborted.", EventName = "ConnectionFailed")]
    public static partial void ConnectionFailed(ILogger logger, string connectionId, Exception exception);

    [LoggerMessage(41, LogLevel.Warning, "Epoll loop {LoopIndex} could not watch the listener on {EndPoint} again ({Errno}); it retries in {DelayMilliseconds} ms. Other loops sharing the listener keep accepting meanwhile.", EventName = "ListenerRewatchFailed")]
    public static partial void ListenerRewatchFailed(ILogger logger, string endPoint, int loopIndex, string errno, int delayMilliseconds);

    [LoggerMessage(42, LogLevel.Warning, @"Connection id ""{ConnectionId}"" from {RemoteEndPoint} could not be registered with epoll loop {LoopIndex} ({Errno}) and was closed.", EventName = "ConnectionRegistrationFailed")]
    public static partial void ConnectionRegistrationFailed(ILogger logger, string connectionId, string? remoteEndPoint, int loopIndex, string errno);

    [LoggerMessage(43, LogLevel.Warning, "Unbinding {EndPoint} did not finish before the host's shutdown token fired (an epoll loop is held by application code); the listener is released in the background once its loops let go.", EventName = "UnbindAbandoned")]
    public static partial void UnbindAbandoned(ILogger logger, string endPoint);

    [LoggerMessage(44, LogLevel.Error, "Closing the listener on {EndPoint} failed; its sockets were closed regardless.", EventName = "ListenerCloseFailed")]
    public static partial void ListenerCloseFailed(ILogger logger, string endPoint, Exception exception);

    [LoggerMessage(36, LogLevel.Information, "The epoll transport runs only on Linux; Kestrel keeps its Sockets transport on {OperatingSystem}.", EventName = "UnsupportedPlatform")]
    public static partial void UnsupportedPlatform(ILogger logger, string operatingSystem);

    [LoggerMessage(37, LogLevel.Debug, "Application code held epoll loop {LoopIndex} for {StuckMilliseconds} ms; the loop moved to a spare thread.", EventName = "LoopHandedOff")]
    public static partial void LoopHandedOff(ILogger logger, int loopIndex, long stuckMilliseconds);

    [LoggerMessage(38, LogLevel.Warning, "Application code held epoll loop {LoopIndex} for {StuckMilliseconds} ms, so the loop moved to a spare thread ({Handoffs} such handoff(s) in the last interval; {StuckThreads} thread(s) are still in application code). A handler that blocks (synchronous I/O, .Result, Thread.Sleep) costs a thread each time; make it asynchronous, or set ApplicationSchedulingMode = ThreadPool.", EventName = "LoopHandoffWarning")]
    public static partial void LoopHandoffWarning(ILogger logger, int loopIndex, long stuckMilliseconds, long handoffs, int stuckThreads);

    [LoggerMessage(45, LogLevel.Debug, "Application code that a quiet epoll loop {LoopIndex} ran itself held it for {StuckMilliseconds} ms while other work waited or past the stall threshold; the loop moved to a spare thread (connection sent to the thread pool for good: {Demoted}).", EventName = "QuietLoopHandedOff")]
    public static partial void QuietLoopHandedOff(ILogger logger, int loopIndex, long stuckMilliseconds, bool demoted);

    [LoggerMessage(39, LogLevel.Warning, "Epoll loop {LoopIndex} is held by application code, but {MaxStuckThreads} threads are already stuck in application code; the loop waits for its handler instead of moving to another thread.", EventName = "HandoffCapReached")]
    public static partial void HandoffCapReached(ILogger logger, int loopIndex, int maxStuckThreads);
}
