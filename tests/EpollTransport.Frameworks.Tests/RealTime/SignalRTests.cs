using System.Diagnostics;
using System.Threading.Channels;
using EpollTransport.Frameworks.Tests.Infrastructure;
using EpollTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Xunit;
using Xunit.Abstractions;

namespace EpollTransport.Frameworks.Tests.RealTime;

/// <summary>
/// SignalR (a hub, and the Microsoft.AspNetCore.SignalR.Client client) over each of its three HTTP transports,
/// on each server transport.
/// </summary>
public sealed class SignalRTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private const int Messages = 2_000;
    private const int MaxText = 1_000;

    /// <summary>Every server transport with every SignalR transport.</summary>
    public static TheoryData<string, HttpTransportType> Matrix => FrameworkTheories.Cross(Transports.All,
        [HttpTransportType.WebSockets, HttpTransportType.ServerSentEvents, HttpTransportType.LongPolling]);

    private static Task<TestServer> StartServerAsync(string transport, HubProbe probe) => TestServer.StartAsync(transport,
        app => app.MapHub<ChatHub>("/hub"),
        new TestServerOptions
        {
            ConfigureServices = services =>
            {
                services.AddSignalR(o => o.EnableDetailedErrors = true);
                services.AddSingleton(probe);
                // A long-polling client that stops polling is only given up after DisconnectTimeout (15 s by default);
                // shortened so the abrupt-disconnect test does not spend that long waiting, and still well above the
                // gap between two polls of a live client.
                services.Configure<ConnectionOptions>(o => o.DisconnectTimeout = TimeSpan.FromSeconds(2));
            },
        });

    private static HubConnection CreateClient(TestServer server, HttpTransportType type, KillableClientSockets sockets)
        => new HubConnectionBuilder()
            .WithUrl(new Uri(server.BaseUri, "hub"), type, o =>
            {
                o.HttpMessageHandlerFactory = _ => sockets.CreateHandler();
                o.WebSocketFactory = sockets.ConnectWebSocketAsync;
            })
            .Build();

    private static async Task StartAsync(HubConnection connection, HttpTransportType type)
    {
        await connection.StartAsync().WaitAsync(Timeout);
        Assert.Equal(type.ToString(), await connection.InvokeAsync<string>("Transport").WaitAsync(Timeout));
    }

    /// <summary>Counts messages i = 0, 1, ... in order, failing on a gap, a repeat or corrupt text.</summary>
    private sealed class OrderedReceiver(string name, int count)
    {
        private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _next;

        public Task Done => _done.Task;

        public void Receive(int index, string text)
        {
            if (index != _next || text != TestPayloads.Text(index, MaxText))
            {
                _done.TrySetException(new InvalidDataException($"{name}: expected message {_next}, got {index} ({text.Length} chars)"));
                return;
            }
            if (++_next == count)
            {
                _done.TrySetResult();
            }
        }
    }

    [Theory]
    [MemberData(nameof(Matrix))]
    public async Task ThousandsOfMessagesArriveInOrderBothWays(string transport, HttpTransportType type)
    {
        var probe = new HubProbe();
        await using TestServer server = await StartServerAsync(transport, probe);
        using var sockets = new KillableClientSockets();
        await using (HubConnection connection = CreateClient(server, type, sockets))
        {
            var echoes = new OrderedReceiver("echo", Messages);
            var burst = new OrderedReceiver("burst", Messages);
            connection.On<int, string>("Echoed", echoes.Receive);
            connection.On<int, string>("Burst", burst.Receive);
            await StartAsync(connection, type);
            string id = connection.ConnectionId!;

            // Client to server and back: each message is echoed to its sender, which checks the order.
            long start = Stopwatch.GetTimestamp();
            for (int i = 0; i < Messages; i++)
            {
                await connection.SendAsync("Echo", i, TestPayloads.Text(i, MaxText)).WaitAsync(Timeout);
            }
            await echoes.Done.WaitAsync(Timeout);
            TimeSpan echoTime = Stopwatch.GetElapsedTime(start);

            // Server to client: the hub pushes them as fast as the transport takes them.
            start = Stopwatch.GetTimestamp();
            await connection.InvokeAsync("Burst", Messages, MaxText).WaitAsync(Timeout);
            await burst.Done.WaitAsync(Timeout);
            TimeSpan burstTime = Stopwatch.GetElapsedTime(start);

            Figures.Report(output, "SignalR", $"{type} echo round trips", transport, Messages, "messages", echoTime);
            Figures.Report(output, "SignalR", $"{type} server push", transport, Messages, "messages", burstTime);

            await connection.StopAsync().WaitAsync(Timeout);
            Assert.Null(await probe.WhenDisconnected(id).WaitAsync(Timeout));
        }
        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }

    /// <summary>A client whose events ("group:text", "all:text") are read in arrival order.</summary>
    private sealed class Member : IAsyncDisposable
    {
        private readonly Channel<string> _events = Channel.CreateUnbounded<string>();
        private readonly TaskCompletionSource<Exception?> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Member(TestServer server, HttpTransportType type)
        {
            Connection = CreateClient(server, type, Sockets);
            Connection.On<string>("Group", text => _events.Writer.TryWrite("group:" + text));
            Connection.On<string>("All", text => _events.Writer.TryWrite("all:" + text));
            Connection.Closed += e =>
            {
                _closed.TrySetResult(e);
                return Task.CompletedTask;
            };
        }

        public KillableClientSockets Sockets { get; } = new();

        public HubConnection Connection { get; }

        public Task<Exception?> Closed => _closed.Task;

        public async Task ExpectAsync(params string[] events)
        {
            foreach (string expected in events)
            {
                Assert.Equal(expected, await _events.Reader.ReadAsync().AsTask().WaitAsync(Timeout));
            }
        }

        public async ValueTask DisposeAsync()
        {
            await Connection.DisposeAsync();
            Sockets.Dispose();
        }
    }

    [Theory]
    [MemberData(nameof(Matrix))]
    public async Task GroupsDeliverToMembersOnlyAndAnAbruptDisconnectReachesOnDisconnected(string transport, HttpTransportType type)
    {
        var probe = new HubProbe();
        await using TestServer server = await StartServerAsync(transport, probe);
        await using (var a = new Member(server, type))
        await using (var b = new Member(server, type))
        await using (var c = new Member(server, type))
        {
            await Task.WhenAll(StartAsync(a.Connection, type), StartAsync(b.Connection, type), StartAsync(c.Connection, type));
            await a.Connection.InvokeAsync("Join", "g").WaitAsync(Timeout);
            await b.Connection.InvokeAsync("Join", "g").WaitAsync(Timeout);

            // Each connection's messages arrive in the order they were sent, so a client that sees the broadcast
            // barrier first never got the group message sent before it.
            await a.Connection.InvokeAsync("ToGroup", "g", "hello-1").WaitAsync(Timeout);
            await a.Connection.InvokeAsync("ToAll", "barrier-1").WaitAsync(Timeout);
            await a.ExpectAsync("group:hello-1", "all:barrier-1");
            await b.ExpectAsync("group:hello-1", "all:barrier-1");
            await c.ExpectAsync("all:barrier-1");

            // B vanishes without a word (see KillableClientSockets): the server must still run OnDisconnectedAsync.
            string bId = b.Connection.ConnectionId!;
            long killed = Stopwatch.GetTimestamp();
            b.Sockets.Kill();
            await probe.WhenDisconnected(bId).WaitAsync(Timeout);
            output.WriteLine($"{transport}/{type}: OnDisconnectedAsync ran {Stopwatch.GetElapsedTime(killed).TotalMilliseconds:F0} ms after the client's sockets were reset");
            await b.Closed.WaitAsync(Timeout);
            Assert.False(probe.HasDisconnected(a.Connection.ConnectionId!));
            Assert.False(probe.HasDisconnected(c.Connection.ConnectionId!));

            // The server goes on: the group still reaches its remaining member, and leaving a group works.
            await a.Connection.InvokeAsync("ToGroup", "g", "hello-2").WaitAsync(Timeout);
            await a.Connection.InvokeAsync("ToAll", "barrier-2").WaitAsync(Timeout);
            await a.ExpectAsync("group:hello-2", "all:barrier-2");
            await c.ExpectAsync("all:barrier-2");
            await a.Connection.InvokeAsync("Leave", "g").WaitAsync(Timeout);
            await a.Connection.InvokeAsync("ToGroup", "g", "hello-3").WaitAsync(Timeout);
            await a.Connection.InvokeAsync("ToAll", "barrier-3").WaitAsync(Timeout);
            await a.ExpectAsync("all:barrier-3");
            await c.ExpectAsync("all:barrier-3");
            Assert.Equal(3, probe.Connected);
        }
        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }
}
