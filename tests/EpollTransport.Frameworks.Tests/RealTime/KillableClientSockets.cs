using System.Collections.Concurrent;
using System.Net.Http;
using System.Net.Sockets;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Http.Connections.Client;

namespace EpollTransport.Frameworks.Tests.RealTime;

/// <summary>
/// Every TCP connection one SignalR client opens (negotiate, WebSocket, SSE stream, long polls, sends) goes through
/// <see cref="ConnectAsync"/>, so the test can make that client vanish the way a crashed process or a pulled cable
/// does: <see cref="Kill"/> resets all its sockets (SO_LINGER 0, so the server gets an RST, not a FIN), and refuses
/// any new connection, so the client cannot say goodbye afterwards either (no long-polling DELETE, no close frame,
/// no SignalR close message). The server only learns of it from the transport: a reset WebSocket or SSE request, or a
/// long poll that never comes back.
/// </summary>
public sealed class KillableClientSockets : IDisposable
{
    private readonly ConcurrentQueue<Socket> _sockets = new();
    private readonly ConcurrentQueue<HttpMessageInvoker> _invokers = new();
    private volatile bool _killed;

    public HttpMessageHandler CreateHandler() => new SocketsHttpHandler { ConnectCallback = ConnectAsync };

    /// <summary>For <see cref="HttpConnectionOptions.WebSocketFactory"/>: a ClientWebSocket over this recorder's sockets.</summary>
    public async ValueTask<WebSocket> ConnectWebSocketAsync(WebSocketConnectionContext context, CancellationToken cancellationToken)
    {
        var webSocket = new ClientWebSocket();
        var uri = new UriBuilder(context.Uri) { Scheme = context.Uri.Scheme == Uri.UriSchemeHttps ? "wss" : context.Uri.Scheme == Uri.UriSchemeHttp ? "ws" : context.Uri.Scheme };
        // The invoker lives as long as this client: the upgraded connection came from its handler.
        var invoker = new HttpMessageInvoker(CreateHandler());
        _invokers.Enqueue(invoker);
        try
        {
            await webSocket.ConnectAsync(uri.Uri, invoker, cancellationToken);
        }
        catch
        {
            webSocket.Dispose();
            throw;
        }
        return webSocket;
    }

    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        if (_killed)
        {
            throw new SocketException((int)SocketError.ConnectionRefused);
        }
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        _sockets.Enqueue(socket);
        if (_killed)
        {
            Reset(socket);
        }
        return new NetworkStream(socket, ownsSocket: true);
    }

    public void Kill()
    {
        _killed = true;
        foreach (Socket socket in _sockets)
        {
            Reset(socket);
        }
    }

    public void Dispose()
    {
        while (_invokers.TryDequeue(out HttpMessageInvoker? invoker))
        {
            invoker.Dispose();
        }
    }

    private static void Reset(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
        }
        catch (ObjectDisposedException)
        {
            return; // the client closed this one itself (e.g. a finished request)
        }
        socket.Dispose();
    }
}
