using System.Globalization;
using System.Net;
using System.Net.Sockets;
using EpollTransport.Tests.Helpers.RawSockets;
using EpollTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Xunit;

namespace EpollTransport.Tests.Conformance;

/// <summary>What can be bound and how: static and dynamic ports, IPv6, dual-stack, Unix sockets, handles.</summary>
public class BindingTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    /// <summary>"remote|local|localPort" as the application sees the connection.</summary>
    private static void MapWhoAmI(WebApplication app)
        => app.MapGet("/", (HttpContext context) =>
            $"{context.Connection.RemoteIpAddress}|{context.Connection.LocalIpAddress}|{context.Connection.LocalPort}");

    private static async Task<string> GetAsync(EndPoint endPoint, string path = "/")
    {
        using Socket socket = await RawClient.ConnectAsync(endPoint);
        RawResponse response = await RawClient.GetAsync(socket, path, close: true);
        Assert.Equal(200, response.StatusCode);
        return response.BodyText;
    }

    private static Socket BlockPort(IPAddress address)
    {
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(address, 0));
        socket.Listen();
        return socket;
    }

    /// <summary>Counts TIME_WAIT sockets whose local port is <paramref name="port"/> (IPv4 table).</summary>
    private static int CountTimeWait(int port)
    {
        string portHex = port.ToString("X4", CultureInfo.InvariantCulture);
        return File.ReadLines("/proc/net/tcp").Skip(1)
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Count(fields => fields[1].EndsWith(":" + portHex, StringComparison.Ordinal) && fields[3] == "06");
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task RebindsTheSamePortRightAfterStoppingAServerWithActiveConnections(string transport)
    {
        int port;
        var clients = new List<Socket>();
        try
        {
            await using (var first = await TestServer.StartAsync(transport, app => app.MapGet("/", () => "first")))
            {
                port = first.Port;
                for (int i = 0; i < 5; i++)
                {
                    Socket client = await RawClient.ConnectAsync(first.EndPoint);
                    clients.Add(client);
                    Assert.Equal("first", (await RawClient.GetAsync(client)).BodyText);
                }
                // Stopping closes the idle keep-alive connections from the server side (server FIN first).
                await first.StopAsync();
            }
            foreach (Socket client in clients)
            {
                Assert.Empty(await RawClient.ReadToEndAsync(client, Timeout));
                client.Close();
            }
        }
        finally
        {
            foreach (Socket client in clients)
            {
                client.Dispose();
            }
        }

        // The server's side of those connections now sits in TIME_WAIT on the port.
        await RawClient.WaitUntilAsync(() => CountTimeWait(port) > 0, Timeout, () => $"no TIME_WAIT socket on port {port}");

        await using var second = await TestServer.StartAsync(transport, app => app.MapGet("/", () => "second"), new TestServerOptions
        {
            ConfigureKestrel = kestrel => kestrel.Listen(IPAddress.Loopback, port),
        });
        Assert.Equal(port, second.Port);
        Assert.Equal("second", await GetAsync(new IPEndPoint(IPAddress.Loopback, port)));
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task StartingOnAPortInUseThrowsIOExceptionNamingTheAddress(string transport)
    {
        using Socket blocker = BlockPort(IPAddress.Loopback);
        int port = ((IPEndPoint)blocker.LocalEndPoint!).Port;

        IOException error = await Assert.ThrowsAsync<IOException>(() => TestServer.StartAsync(transport, MapWhoAmI, new TestServerOptions
        {
            ConfigureKestrel = kestrel => kestrel.Listen(IPAddress.Loopback, port),
        }));
        Assert.Contains($"127.0.0.1:{port}", error.Message);
        Assert.IsType<AddressInUseException>(error.InnerException);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task EpollFactoryBindOnAPortInUseThrowsAddressInUseException(bool reusePort)
    {
        using Socket blocker = BlockPort(IPAddress.Loopback);
        var endPoint = (IPEndPoint)blocker.LocalEndPoint!;
        using var factory = new EpollTransportFactory(Options.Create(new EpollTransportOptions { ThreadCount = 2, ReusePort = reusePort }), NullLoggerFactory.Instance);

        await Assert.ThrowsAsync<AddressInUseException>(async () => await factory.BindAsync(endPoint));
        Assert.Empty(factory.GetLoopCounters());

        // The factory is still usable afterwards.
        IConnectionListener listener = await factory.BindAsync(new IPEndPoint(IPAddress.Loopback, 0));
        try
        {
            Assert.NotEqual(0, ((IPEndPoint)listener.EndPoint).Port);
            Assert.Equal(2, factory.GetLoopCounters().Count);
        }
        finally
        {
            await listener.UnbindAsync();
            await listener.DisposeAsync();
        }
        Assert.Empty(factory.GetLoopCounters());
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task ServesAUnixDomainSocketAndRemovesItsFileOnStop(string transport)
    {
        string path = Path.Combine(Path.GetTempPath(), $"ept-{Guid.NewGuid():N}.sock");
        try
        {
            await using (var server = await TestServer.StartAsync(transport, app => app.MapGet("/", () => "over uds"), new TestServerOptions
            {
                ConfigureKestrel = kestrel => kestrel.ListenUnixSocket(path),
            }))
            {
                Assert.True(File.Exists(path), "The socket file was not created.");
                using var handler = new SocketsHttpHandler
                {
                    ConnectCallback = async (_, cancellationToken) =>
                    {
                        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                        try
                        {
                            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken);
                            return new NetworkStream(socket, ownsSocket: true);
                        }
                        catch
                        {
                            socket.Dispose();
                            throw;
                        }
                    },
                };
                using var client = new HttpClient(handler) { BaseAddress = new Uri("http://localhost/"), Timeout = Timeout };
                for (int i = 0; i < 3; i++)
                {
                    Assert.Equal("over uds", await client.GetStringAsync("/"));
                }
                await server.StopAsync();
            }
            Assert.False(File.Exists(path), "The socket file is still there after the server stopped.");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task ServesIPv6Loopback(string transport)
    {
        await using var server = await TestServer.StartAsync(transport, MapWhoAmI, new TestServerOptions
        {
            ConfigureKestrel = kestrel => kestrel.Listen(IPAddress.IPv6Loopback, 0),
        });
        Assert.Equal($"http://[::1]:{server.Port}", server.Addresses[0]);
        Assert.Equal($"::1|::1|{server.Port}", await GetAsync(new IPEndPoint(IPAddress.IPv6Loopback, server.Port)));

        // IPv6-only: the IPv4 loopback on that port is not served by this listener.
        await Assert.ThrowsAsync<SocketException>(() => RawClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, server.Port)));
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task AnyIPServesIPv4AndIPv6OnOnePortWithMappedAddresses(string transport)
    {
        await using var server = await TestServer.StartAsync(transport, MapWhoAmI, new TestServerOptions
        {
            ConfigureKestrel = kestrel => kestrel.ListenAnyIP(0),
        });
        int port = server.Port;
        Assert.NotEqual(0, port);
        Assert.Equal($"http://[::]:{port}", server.Addresses[0]);

        // An IPv4 client on the dual-stack socket appears as an IPv4-mapped IPv6 address, as with Sockets.
        Assert.Equal($"::ffff:127.0.0.1|::ffff:127.0.0.1|{port}", await GetAsync(new IPEndPoint(IPAddress.Loopback, port)));
        Assert.Equal($"::1|::1|{port}", await GetAsync(new IPEndPoint(IPAddress.IPv6Loopback, port)));
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task DynamicPortsAreReportedAndServed(string transport)
    {
        await using var server = await TestServer.StartAsync(transport, MapWhoAmI, new TestServerOptions
        {
            ConfigureKestrel = kestrel =>
            {
                kestrel.Listen(IPAddress.Loopback, 0);
                kestrel.Listen(IPAddress.Loopback, 0);
            },
        });
        Assert.Equal(2, server.Addresses.Count);
        int[] ports = server.Addresses.Select(a => new Uri(a).Port).ToArray();
        Assert.DoesNotContain(0, ports);
        Assert.NotEqual(ports[0], ports[1]);
        foreach (int port in ports)
        {
            Assert.Equal($"127.0.0.1|127.0.0.1|{port}", await GetAsync(new IPEndPoint(IPAddress.Loopback, port)));
        }
    }

    [Fact]
    public async Task ReusePortLoopsAllServeTheOneReportedPort()
    {
        const int connections = 50;
        await using var server = await TestServer.StartAsync(Transports.Epoll, app => app.MapGet("/", () => "hi"), new TestServerOptions
        {
            ConfigureEpoll = o =>
            {
                o.ReusePort = true;
                o.ThreadCount = 2;
            },
        });
        Assert.Single(server.Addresses);

        await Task.WhenAll(Enumerable.Range(0, connections).Select(async _ =>
            Assert.Equal("hi", await GetAsync(server.EndPoint)))).WaitAsync(Timeout);

        var loops = RawClient.EpollFactory(server)!.GetLoopCounters();
        Assert.Equal(2, loops.Count);
        Assert.Equal(connections, loops.Sum(l => l.ConnectionsAccepted));
        // SO_REUSEPORT hashes each connection to one of the loops' sockets: with 50 connections every
        // loop gets some unless a loop's socket is bound to a different port.
        Assert.All(loops, l => Assert.True(l.ConnectionsAccepted > 0, $"Loop {l.LoopIndex} accepted no connection: {RawClient.DescribeLoops(server)}"));
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task ListenHandleServesABoundSocketAndLeavesItOpen(string transport)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var endPoint = (IPEndPoint)socket.LocalEndPoint!;

        await using (var server = await TestServer.StartAsync(transport, MapWhoAmI, new TestServerOptions
        {
            ConfigureKestrel = kestrel => kestrel.ListenHandle((ulong)socket.Handle),
        }))
        {
            for (int i = 0; i < 3; i++)
            {
                Assert.Equal($"127.0.0.1|127.0.0.1|{endPoint.Port}", await GetAsync(endPoint));
            }
        }

        // The descriptor belongs to the caller: still open (and bound) after the server is gone.
        Assert.Equal(endPoint, socket.LocalEndPoint);
        Assert.Equal(1, (int)socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.AcceptConnection)!);
    }

    /// <summary>Epoll only: Kestrel's Sockets transport calls listen(Backlog) on an adopted socket too.</summary>
    [Theory]
    [MemberData(nameof(Transports.EpollOnly), MemberType = typeof(Transports))]
    public async Task AnInheritedSocketThatAlreadyListensKeepsItsOwnersBacklog(string transport)
    {
        // systemd's Backlog=, or a supervisor whose socket another process serves at the same time.
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        socket.Listen(7);
        var endPoint = (IPEndPoint)socket.LocalEndPoint!;

        await using var server = await TestServer.StartAsync(transport, MapWhoAmI, new TestServerOptions
        {
            ConfigureKestrel = kestrel => kestrel.ListenHandle((ulong)socket.Handle),
        });
        Assert.Equal($"127.0.0.1|127.0.0.1|{endPoint.Port}", await GetAsync(endPoint));
        Assert.Equal(7, ListenBacklog(endPoint.Port));
    }

    /// <summary>A listening socket's backlog, as ss(8) reports it (Send-Q of a LISTEN socket).</summary>
    private static int ListenBacklog(int port)
    {
        using var ss = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("ss", ["-Hltn", $"sport = :{port}"]) { RedirectStandardOutput = true })!;
        string line = ss.StandardOutput.ReadToEnd().Trim();
        ss.WaitForExit();
        // State Recv-Q Send-Q Local Peer
        return int.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[2], System.Globalization.CultureInfo.InvariantCulture);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task LocalhostServesIPv4AndIPv6Loopback(string transport)
    {
        for (int attempt = 0; ; attempt++)
        {
            int port;
            using (Socket probe = BlockPort(IPAddress.Loopback))
            {
                port = ((IPEndPoint)probe.LocalEndPoint!).Port;
            }

            TestServer server;
            try
            {
                server = await TestServer.StartAsync(transport, MapWhoAmI, new TestServerOptions
                {
                    ConfigureKestrel = kestrel => kestrel.ListenLocalhost(port),
                });
            }
            catch (IOException) when (attempt < 5)
            {
                continue; // Someone else took the free port in between; try another one.
            }

            await using (server)
            {
                Assert.Equal($"127.0.0.1|127.0.0.1|{port}", await GetAsync(new IPEndPoint(IPAddress.Loopback, port)));
                Assert.Equal($"::1|::1|{port}", await GetAsync(new IPEndPoint(IPAddress.IPv6Loopback, port)));
            }
            return;
        }
    }
}
