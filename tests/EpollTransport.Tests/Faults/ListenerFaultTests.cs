using System.Net;
using System.Net.Sockets;
using EpollTransport.Interop;
using EpollTransport.Tests.Helpers.RawSockets;
using EpollTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Xunit;

namespace EpollTransport.Tests.Faults;

/// <summary>
/// Listeners on the paths nobody benchmarks: a host that does not accept, a second bind that fails, an
/// inherited socket, a Unix socket with ReusePort, a listener that cannot be watched again. Listeners
/// come from the transport factory Kestrel itself resolves (Sockets' or ours), driven as Kestrel drives them.
/// </summary>
public class ListenerFaultTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task AListenerNobodyAcceptsFromReadsNothingAndLeavesTheRestInTheKernelBacklog(string transport)
    {
        const int Clients = 96;
        const int BytesPerClient = 32 * 1024;
        const int QueueCapacity = 16;
        await using TestServer server = await TestServer.StartAsync(transport, app => app.MapGet("/", () => "ok"), new TestServerOptions
        {
            // The queue is as deep as the backlog by default; a shallow one shows the bound with few clients.
            ConfigureEpoll = o => o.Hooks = new TestHooks { AcceptQueueCapacity = QueueCapacity },
        });
        IConnectionListener listener = await RawClient.ListenerFactory(server).BindAsync(new IPEndPoint(IPAddress.Loopback, 0));
        var clients = new List<Socket>();
        try
        {
            int port = ((IPEndPoint)listener.EndPoint).Port;
            long rentedBefore = server.MemoryPool.TotalRented;
            for (int i = 0; i < Clients; i++)
            {
                Socket client = await RawClient.ConnectAsync(listener.EndPoint);
                clients.Add(client);
                // Fits in the kernel's buffers: the send completes whether or not anybody reads.
                await RawClient.SendAsync(client, RawClient.Payload(i, BytesPerClient));
            }

            // Sockets accepts nothing until asked; the epoll transport takes at most its small accept
            // queue's worth. Either way most of the flood stays where it costs the process nothing.
            int expectedInKernel = transport == Transports.Sockets ? Clients : Clients - QueueCapacity;
            await RawClient.WaitUntilAsync(() => SocketProbe.KernelAcceptQueueLength(port) == expectedInKernel, Timeout,
                () => $"{SocketProbe.KernelAcceptQueueLength(port)} connection(s) in the kernel's accept queue, expected {expectedInKernel}");
            // And nothing of what the clients sent was read into the process.
            Assert.Equal(rentedBefore, server.MemoryPool.TotalRented);

            // Once the host accepts, every connection is served with every byte.
            for (int i = 0; i < Clients; i++)
            {
                ConnectionContext connection = (await listener.AcceptAsync().AsTask().WaitAsync(Timeout))!;
                Assert.NotNull(connection);
                long read = 0;
                while (read < BytesPerClient)
                {
                    var result = await connection.Transport.Input.ReadAsync().AsTask().WaitAsync(Timeout);
                    read += result.Buffer.Length;
                    connection.Transport.Input.AdvanceTo(result.Buffer.End);
                }
                Assert.Equal(BytesPerClient, read);
                await connection.DisposeAsync();
            }
        }
        finally
        {
            foreach (Socket client in clients)
            {
                client.Dispose();
            }
            await listener.UnbindAsync();
            await listener.DisposeAsync();
        }
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task ASecondBindThatFailsLeavesTheFirstListenerServing(string transport)
    {
        await using TestServer server = await TestServer.StartAsync(transport, app => app.MapGet("/", () => "ok"));
        IConnectionListenerFactory factory = RawClient.ListenerFactory(server);
        using var inherited = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        inherited.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        inherited.Listen(16);
        var endPoint = new FileHandleEndPoint((ulong)inherited.Handle, FileHandleType.Tcp);

        IConnectionListener first = await factory.BindAsync(endPoint);
        IConnectionListener? second = null;
        try
        {
            // The same socket twice: the epoll transport refuses it (epoll_ctl ADD gives EEXIST), Sockets
            // takes it. Either way the first listener must be unharmed.
            try
            {
                second = await factory.BindAsync(endPoint);
            }
            catch (Exception ex) when (transport != Transports.Sockets)
            {
                Assert.IsAssignableFrom<SocketException>(ex);
            }
            if (second is not null)
            {
                await second.UnbindAsync();
                await second.DisposeAsync();
            }
            Assert.True(SocketProbe.IsOpen((int)inherited.Handle), "disposing the second listener closed the inherited descriptor");

            using Socket client = await RawClient.ConnectAsync(inherited.LocalEndPoint!);
            ConnectionContext connection = (await first.AcceptAsync().AsTask().WaitAsync(Timeout))!;
            await connection.Transport.Output.WriteAsync("served"u8.ToArray());
            await connection.Transport.Output.CompleteAsync();
            Assert.Equal("served", System.Text.Encoding.ASCII.GetString(await RawClient.ReadToEndAsync(client, Timeout)));
            await connection.DisposeAsync();

            // Kestrel's own endpoint on the same factory still serves too.
            using Socket http = await RawClient.ConnectAsync(server.EndPoint);
            Assert.Equal("ok", (await RawClient.GetAsync(http)).BodyText);
        }
        finally
        {
            await first.UnbindAsync();
            await first.DisposeAsync();
        }

        if (RawClient.EpollFactory(server) is { } epoll)
        {
            // Kestrel's listener still holds the loops: the failed bind released nothing of theirs.
            Assert.NotNull(epoll.CurrentLoopGroup);
            await server.StopAsync();
            Assert.Null(epoll.CurrentLoopGroup);
        }
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task ConnectionsFromAnInheritedSocketHaveNagleOff(string transport)
    {
        // As systemd hands it over: bound and listening, with no TCP_NODELAY of its own.
        using var inherited = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        inherited.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        inherited.Listen(16);
        Assert.False(inherited.NoDelay);
        await using TestServer server = await TestServer.StartAsync(transport, app => app.MapGet("/", () => "ok"), new TestServerOptions
        {
            ConfigureKestrel = kestrel => kestrel.ListenHandle((ulong)inherited.Handle),
        });

        using Socket client = await RawClient.ConnectAsync(inherited.LocalEndPoint!);
        Assert.Equal("ok", (await RawClient.GetAsync(client)).BodyText);
        Assert.True(SocketProbe.ServerSideNoDelay((IPEndPoint)client.LocalEndPoint!), "The server's side of the connection has Nagle on.");
    }

    [Theory]
    [MemberData(nameof(Transports.EpollOnly), MemberType = typeof(Transports))]
    public async Task ReusePortWithAUnixSocketStartsServesAndIsLeftOffThere(string transport)
    {
        string path = Path.Combine(Path.GetTempPath(), $"epoll-reuseport-{Guid.NewGuid():N}.sock");
        await using TestServer server = await TestServer.StartAsync(transport, app => app.MapGet("/", () => "ok"), new TestServerOptions
        {
            ConfigureEpoll = o => o.ReusePort = true,
            ConfigureKestrel = kestrel =>
            {
                kestrel.ListenUnixSocket(path);
                kestrel.Listen(IPAddress.Loopback, 0);
            },
        });

        using Socket client = await RawClient.ConnectAsync(new UnixDomainSocketEndPoint(path));
        Assert.Equal("ok", (await RawClient.GetAsync(client)).BodyText);
        Assert.Equal(false, SocketProbe.UnixListenerReusePort(path));
    }

    [Fact]
    public async Task AListenerThatCannotBeWatchedAgainAfterABackOffRetriesWarnsAndAcceptsAgain()
    {
        int acceptFaults = 1;
        int rewatchFaults = 2;
        await using TestServer server = await TestServer.StartAsync(Transports.EpollSingleLoop, app => app.MapGet("/", () => "ok"), new TestServerOptions
        {
            ConfigureEpoll = o => o.Hooks = new TestHooks
            {
                // One EMFILE pauses accepting; the first two attempts to watch the socket again fail
                // with ENOMEM, the very shortage that can cause such a pause.
                AcceptFault = () => Interlocked.Decrement(ref acceptFaults) >= 0 ? Errno.EMFILE : Errno.None,
                ListenerRewatchFault = () => Interlocked.Decrement(ref rewatchFaults) >= 0 ? Errno.ENOMEM : Errno.None,
            },
        });

        using Socket client = await RawClient.ConnectAsync(server.EndPoint);
        Assert.Equal("ok", (await RawClient.GetAsync(client)).BodyText);
        Assert.True(Volatile.Read(ref rewatchFaults) < 0, "The listener was never watched again after its pause.");
        Assert.Contains(server.Logs.Records, r => r.EventId.Name == "ListenerRewatchFailed" && r.Level == LogLevel.Warning && r.Message.Contains("ENOMEM"));
        Assert.Contains(server.Logs.Records, r => r.EventId.Name == "AcceptFailed" && r.Message.Contains("EMFILE"));
    }
}
