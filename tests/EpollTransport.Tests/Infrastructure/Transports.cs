using EpollTransport;
using Microsoft.AspNetCore.Hosting;
using Xunit;

namespace EpollTransport.Tests.Infrastructure;

/// <summary>
/// The transports every conformance scenario runs against: Kestrel's Sockets transport (the reference
/// behaviour), ours with default options, and ours with a single loop (V1/V2 layouts).
/// </summary>
public static class Transports
{
    public const string Sockets = "sockets";
    public const string Epoll = "epoll";
    public const string EpollSingleLoop = "epoll-1";

    public static TheoryData<string> All => new() { Sockets, Epoll, EpollSingleLoop };

    public static TheoryData<string> EpollOnly => new() { Epoll, EpollSingleLoop };

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
                builder.UseEpollTransport(o =>
                {
                    o.MaxReadBufferSize = maxReadBufferSize;
                    o.MaxWriteBufferSize = maxWriteBufferSize;
                    if (transport == EpollSingleLoop)
                    {
                        o.ThreadCount = 1;
                    }
                    else
                    {
                        // At least two loops even on a 1-core runner, so V3 (several loops) is what runs.
                        o.ThreadCount = Math.Max(2, EpollTransportOptions.DefaultThreadCount);
                    }
                    configureEpoll?.Invoke(o);
                });
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(transport), transport, "Unknown transport.");
        }
    }
}
