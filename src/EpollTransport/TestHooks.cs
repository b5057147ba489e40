using EpollTransport.Interop;
using Microsoft.AspNetCore.Connections;

namespace EpollTransport;

/// <summary>
/// The faults and observation points the test suite injects (through
/// <see cref="EpollTransportOptions.Hooks"/>, which is internal). Production code never sets one, and
/// each call site costs a null check. Kept in one object so the product's own types carry no test
/// members and a new seam does not touch the options type.
/// </summary>
internal sealed class TestHooks
{
    /// <summary>
    /// Runs on the loop thread before a connection handles readiness, so a test can make that handling
    /// throw and check that only this connection fails.
    /// </summary>
    public Action<ConnectionContext>? ConnectionEvents { get; init; }

    /// <summary>
    /// Asked before every accept on a loop thread; an error other than none is taken as that accept's
    /// result (no connection is taken from the backlog), so a test can play EMFILE, ENFILE, ENOBUFS or
    /// ECONNABORTED without exhausting anything.
    /// </summary>
    public Func<Errno>? AcceptFault { get; init; }

    /// <summary>The descriptor limit the reserve is computed from, instead of RLIMIT_NOFILE.</summary>
    public Func<long>? DescriptorLimit { get; init; }

    /// <summary>
    /// Asked before a paused listening socket is watched again (epoll_ctl ADD after a back-off or a full
    /// accept queue); an error other than none is taken as that call's result.
    /// </summary>
    public Func<Errno>? ListenerRewatchFault { get; init; }

    /// <summary>
    /// Asked at each step of building loop <c>k</c> (<c>"epoll_create1"</c>, <c>"eventfd"</c>,
    /// <c>"epoll_ctl"</c>); an error other than none fails that step as the call would.
    /// </summary>
    public Func<int, string, Errno>? LoopCreationFault { get; init; }

    /// <summary>The stuck-thread cap of the safe inline mode, instead of 256, so a test can reach it with one handler.</summary>
    public int? MaxStuckThreads { get; init; }

    /// <summary>The accept queue's bound, instead of the one the backlog gives, so a test can fill it with a few clients.</summary>
    public int? AcceptQueueCapacity { get; init; }
}
