using System.Net;
using System.Net.Sockets;
using EpollTransport;
using EpollTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace EpollTransport.Tests.Transport;

/// <summary>Drives <see cref="EpollTransportFactory"/> directly, the way Kestrel does, without HTTP on top.</summary>
internal sealed class DirectFactory : IAsyncDisposable
{
    private readonly List<IConnectionListener> _listeners = new();

    public DirectFactory(Action<EpollTransportOptions>? configure = null)
    {
        var options = new EpollTransportOptions { ThreadCount = 2 };
        configure?.Invoke(options);
        Factory = new EpollTransportFactory(Options.Create(options), NullLoggerFactory.Instance, MemoryPool);
    }

    public EpollTransportFactory Factory { get; }

    public CountingMemoryPoolFactory MemoryPool { get; } = new();

    public async Task<IConnectionListener> BindLoopbackAsync()
    {
        IConnectionListener listener = await Factory.BindAsync(new IPEndPoint(IPAddress.Loopback, 0));
        _listeners.Add(listener);
        return listener;
    }

    public static async Task<Socket> ConnectAsync(IConnectionListener listener)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(listener.EndPoint);
        return socket;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (IConnectionListener listener in _listeners)
        {
            await listener.DisposeAsync();
        }
        Factory.Dispose();
    }
}
