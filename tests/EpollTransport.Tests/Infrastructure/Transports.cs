using EpollTransport;
using Microsoft.AspNetCore.Hosting;
using Xunit;

namespace EpollTransport.Tests.Infrastructure;

/// <summary>
/// The transports every conformance scenario runs against: Kestrel's Sockets transport (the reference
/// behaviour); ours with default options (thread-pool scheduling), with a single loop (V1/V2 layouts),
/// with safe inline scheduling (the stall watchdog), and with unprotected inline scheduling.
/// </summary>
public static class Transports
{
    public const string Sockets = "sockets";
    public const string Epoll = "epoll";
    public const string EpollSingleLoop = "epoll-1";
    public const string EpollInline = "epoll-inline";

    /// <summary>Safe inline with one loop: not in <see cref="All"/>, for tests that need every connection on one loop.</summary>
    public const string EpollInlineSingleLoop = "epoll-inline-1";
    public const string EpollUnsafeInline = "epoll-unsafe-inline";

    public static TheoryData<string> All => new() { Sockets, Epoll, EpollSingleLoop, EpollInline, EpollUnsafeInline };

    public static TheoryData<string> EpollOnly => new() { Epoll, EpollSingleLoop, EpollInline, EpollUnsafeInline };

    /// <summary>The configurations in which a handler may block its thread without harming other connections.</summary>
    public static TheoryData<string> BlockingSafe => new() { Sockets, Epoll, EpollSingleLoop, EpollInline };

    /// <summary>Selects <paramref name="transport"/> on <paramref name="builder"/> (after UseKestrel).</summary>
    public static void Use(IWebHostBuilder builder, string transport, long? maxReadBufferSize = 1024 * 1024, long? maxWriteBufferSize = 64 * 1024,
        Action<EpollTransportOptions>? configureEpoll = null)
    {
        switch (transport)
        {
            case Sockets:
                builder.UseSockets(o =>
                {
                    o.MaxReadBufferSize = maxReadBufferSize;
                    o.MaxWriteBufferSize = maxWriteBufferSize;
                });
                break;
            case Epoll:
            case EpollSingleLoop:
            case EpollInline:
            case EpollInlineSingleLoop:
            case EpollUnsafeInline:
                builder.UseEpollTransport(o =>
                {
                    o.MaxReadBufferSize = maxReadBufferSize;
                    o.MaxWriteBufferSize = maxWriteBufferSize;
                    if (transport is EpollSingleLoop or EpollInlineSingleLoop)
                    {
                        o.ThreadCount = 1;
                    }
                    else
                    {
                        // At least two loops even on a 1-core runner, so V3 (several loops) is what runs.
                        o.ThreadCount = Math.Max(2, EpollTransportOptions.DefaultThreadCount);
                    }
                    if (transport is EpollInline or EpollInlineSingleLoop)
                    {
                        o.ApplicationSchedulingMode = ApplicationSchedulingMode.Inline;
                    }
                    else if (transport == EpollUnsafeInline)
                    {
                        o.UnsafePreferInlineScheduling = true;
                    }
                    configureEpoll?.Invoke(o);
                });
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(transport), transport, "Unknown transport.");
        }
    }
}
