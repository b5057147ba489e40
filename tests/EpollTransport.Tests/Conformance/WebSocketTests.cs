using System.Net;
using System.Net.WebSockets;
using System.Text;
using EpollTransport.Tests.Helpers;
using EpollTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Xunit;

namespace EpollTransport.Tests.Conformance;

/// <summary>WebSockets (HTTP/1.1 upgrade, and RFC 8441 over HTTP/2) echoed through the transport.</summary>
public class WebSocketTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static readonly int[] MessageSizes = [0, 1, 125, 126, 127, 4096, 65535, 65536, 65537, 100_000, 1024 * 1024 + 3];

    /// <summary>What the server saw when the client closed.</summary>
    private sealed class ServerObservations
    {
        public TaskCompletionSource<(WebSocketCloseStatus? Status, string? Description, int Messages)> Closed { get; } =
            new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private static Action<WebApplication> EchoApp(ServerObservations observations) => app =>
    {
        app.UseWebSockets();
        app.Map("/ws", async (HttpContext context) =>
        {
            if (!context.WebSockets.IsWebSocketRequest)
            {
                context.Response.StatusCode = StatusCodes.Status400BadRequest;
                return;
            }
            using WebSocket socket = await context.WebSockets.AcceptWebSocketAsync();
            byte[] buffer = new byte[16 * 1024];
            var message = new MemoryStream();
            int messages = 0;
            while (true)
            {
                WebSocketReceiveResult result = await socket.ReceiveAsync(buffer, context.RequestAborted);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    observations.Closed.TrySetResult((result.CloseStatus, result.CloseStatusDescription, messages));
                    await socket.CloseOutputAsync(result.CloseStatus ?? WebSocketCloseStatus.NormalClosure, result.CloseStatusDescription, context.RequestAborted);
                    return;
                }
                message.Write(buffer, 0, result.Count);
                if (result.EndOfMessage)
                {
                    messages++;
                    // Echo as several frames to exercise fragmentation on the way back too.
                    ReadOnlyMemory<byte> payload = message.GetBuffer().AsMemory(0, (int)message.Length);
                    do
                    {
                        int n = Math.Min(payload.Length, 50_000);
                        await socket.SendAsync(payload[..n], result.MessageType, endOfMessage: n == payload.Length, context.RequestAborted);
                        payload = payload[n..];
                    }
                    while (!payload.IsEmpty);
                    message.SetLength(0);
                }
            }
        });
    };

    private static async Task<(WebSocketMessageType Type, byte[] Data)> ReceiveMessageAsync(WebSocket socket)
    {
        byte[] buffer = new byte[32 * 1024];
        var message = new MemoryStream();
        while (true)
        {
            ValueWebSocketReceiveResult result = await socket.ReceiveAsync(buffer.AsMemory(), CancellationToken.None);
            message.Write(buffer, 0, result.Count);
            if (result.EndOfMessage)
            {
                return (result.MessageType, message.ToArray());
            }
        }
    }

    private static async Task ExchangeMessagesAndCloseAsync(ClientWebSocket client, ServerObservations observations)
    {
        int sent = 0;
        foreach (int size in MessageSizes)
        {
            // Text in one frame.
            string text = DeterministicData.AsciiText((ulong)size + 1, size);
            await client.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
            (WebSocketMessageType type, byte[] data) = await ReceiveMessageAsync(client);
            Assert.Equal(WebSocketMessageType.Text, type);
            Assert.Equal(text, Encoding.UTF8.GetString(data));
            sent++;

            // Binary sent as fragments of 30000 bytes.
            byte[] binary = DeterministicData.Create((ulong)size + 1000, size);
            int offset = 0;
            do
            {
                int n = Math.Min(30_000, binary.Length - offset);
                await client.SendAsync(binary.AsMemory(offset, n), WebSocketMessageType.Binary, endOfMessage: offset + n == binary.Length, CancellationToken.None);
                offset += n;
            }
            while (offset < binary.Length);
            (type, data) = await ReceiveMessageAsync(client);
            Assert.Equal(WebSocketMessageType.Binary, type);
            Assert.Equal(binary, data);
            sent++;
        }

        await client.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);
        Assert.Equal(WebSocketState.Closed, client.State);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, client.CloseStatus);
        Assert.Equal("bye", client.CloseStatusDescription);

        (WebSocketCloseStatus? status, string? description, int messages) = await observations.Closed.Task.WaitAsync(Timeout);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, status);
        Assert.Equal("bye", description);
        Assert.Equal(sent, messages);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task EchoesTextAndBinaryMessagesOfManySizesAndClosesCleanly(string transport)
    {
        var observations = new ServerObservations();
        await using var server = await TestServer.StartAsync(transport, EchoApp(observations));

        using (var client = new ClientWebSocket())
        {
            client.Options.CollectHttpResponseDetails = true;
            await client.ConnectAsync(new Uri($"ws://127.0.0.1:{server.Port}/ws"), CancellationToken.None).WaitAsync(Timeout);
            Assert.Equal(HttpStatusCode.SwitchingProtocols, client.HttpStatusCode);
            await ExchangeMessagesAndCloseAsync(client, observations).WaitAsync(Timeout);
        }

        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task SeveralConcurrentWebSocketsEchoIndependently(string transport)
    {
        await using var server = await TestServer.StartAsync(transport, EchoApp(new ServerObservations()));

        await Task.WhenAll(Enumerable.Range(0, 8).Select(async i =>
        {
            using var client = new ClientWebSocket();
            await client.ConnectAsync(new Uri($"ws://127.0.0.1:{server.Port}/ws"), CancellationToken.None);
            for (int round = 0; round < 10; round++)
            {
                byte[] payload = DeterministicData.Create((ulong)(i * 100 + round + 1), 70_000 + i * 1000 + round);
                await client.SendAsync(payload, WebSocketMessageType.Binary, endOfMessage: true, CancellationToken.None);
                (WebSocketMessageType type, byte[] data) = await ReceiveMessageAsync(client);
                Assert.Equal(WebSocketMessageType.Binary, type);
                Assert.Equal(payload, data);
            }
            await client.CloseAsync(WebSocketCloseStatus.NormalClosure, $"done {i}", CancellationToken.None);
            Assert.Equal(WebSocketState.Closed, client.State);
            Assert.Equal($"done {i}", client.CloseStatusDescription);
        })).WaitAsync(Timeout);

        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task WebSocketOverHttp2EchoesAndClosesCleanly(string transport)
    {
        var observations = new ServerObservations();
        await using var server = await TestServer.StartAsync(transport, EchoApp(observations), new TestServerOptions
        {
            ConfigureKestrel = kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2),
        });

        using (var invoker = new HttpMessageInvoker(new SocketsHttpHandler()))
        using (var client = new ClientWebSocket())
        {
            client.Options.CollectHttpResponseDetails = true;
            client.Options.HttpVersion = HttpVersion.Version20;
            client.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;
            await client.ConnectAsync(new Uri($"ws://127.0.0.1:{server.Port}/ws"), invoker, CancellationToken.None).WaitAsync(Timeout);
            Assert.Equal(HttpStatusCode.OK, client.HttpStatusCode);
            await ExchangeMessagesAndCloseAsync(client, observations).WaitAsync(Timeout);
        }

        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }
}
