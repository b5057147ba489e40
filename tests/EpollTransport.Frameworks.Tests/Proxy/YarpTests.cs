using System.Globalization;
using System.Net;
using System.Net.WebSockets;
using EpollTransport.Frameworks.Tests.Infrastructure;
using EpollTransport.Frameworks.Tests.Rpc;
using EpollTransport.Tests.Helpers;
using EpollTransport.Tests.Helpers.RawSockets;
using EpollTransport.Tests.Infrastructure;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Xunit;
using Xunit.Abstractions;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

namespace EpollTransport.Frameworks.Tests.Proxy;

/// <summary>
/// YARP: a reverse proxy served by the transport under test, in front of a backend on the same transport, each with
/// an HTTP/1.1 endpoint (plain requests, bodies, WebSockets) and an h2c endpoint (gRPC, which YARP forwards as HTTP/2).
/// </summary>
public sealed class YarpTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private const int BodyLength = 16 * 1024 * 1024;

    /// <summary>The slow-reader body: far more than every buffer on the way (Kestrel's and the kernel's) holds.</summary>
    private const long SlowBodyLength = 64L * 1024 * 1024;

    /// <summary>
    /// What the proxy's memory pool may hold while the backend does not read: its request buffer limit (1 MiB in the
    /// test server) plus slack. A proxy that buffered the body instead of applying backpressure would hold tens of MiB.
    /// </summary>
    private const long ProxyPoolBound = 4L * 1024 * 1024;

    /// <summary>The backend of the slow-reader test: it reads nothing until the test releases it.</summary>
    private sealed class SlowReaderGate
    {
        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>A backend and the proxy in front of it, both on the transport under test.</summary>
    private sealed class ProxiedBackend : IAsyncDisposable
    {
        private ProxiedBackend(TestServer backend, TestServer proxy, int proxyHttp1Port, int proxyHttp2Port, SlowReaderGate gate)
        {
            Gate = gate;
            Backend = backend;
            ProxyServer = proxy;
            ProxyHttp1Port = proxyHttp1Port;
            ProxyHttp2Port = proxyHttp2Port;
        }

        public TestServer Backend { get; }

        public TestServer ProxyServer { get; }

        public int ProxyHttp1Port { get; }

        public int ProxyHttp2Port { get; }

        public SlowReaderGate Gate { get; }

        public HttpClient CreateClient() => new()
        {
            BaseAddress = new Uri($"http://127.0.0.1:{ProxyHttp1Port}/"),
            Timeout = Timeout,
        };

        public static async Task<ProxiedBackend> StartAsync(string transport)
        {
            var gate = new SlowReaderGate();
            (ListenOptions? Http1, ListenOptions? Http2) backendListen = default;
            TestServer backend = await TestServer.StartAsync(transport, app => MapBackend(app, gate), new TestServerOptions
            {
                ConfigureKestrel = kestrel => backendListen = ListenTwice(kestrel),
                ConfigureServices = services =>
                {
                    services.AddGrpc();
                    services.AddSingleton(new GrpcProbe());
                },
            });
            try
            {
                (ListenOptions? Http1, ListenOptions? Http2) proxyListen = default;
                RouteConfig[] routes =
                [
                    new() { RouteId = "grpc", ClusterId = "grpc", Order = 0, Match = new RouteMatch { Path = "/frameworks.Tester/{**method}" } },
                    new() { RouteId = "http", ClusterId = "http", Order = 1, Match = new RouteMatch { Path = "{**rest}" } },
                ];
                ClusterConfig[] clusters =
                [
                    Cluster("http", PortOf(backendListen.Http1), null),
                    // gRPC needs HTTP/2 to the backend too; over plaintext that takes prior knowledge, hence "exact".
                    Cluster("grpc", PortOf(backendListen.Http2), new ForwarderRequestConfig { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact }),
                ];
                TestServer proxy = await TestServer.StartAsync(transport, app => app.MapReverseProxy(), new TestServerOptions
                {
                    ConfigureKestrel = kestrel => proxyListen = ListenTwice(kestrel),
                    ConfigureServices = services => services.AddReverseProxy().LoadFromMemory(routes, clusters),
                });
                return new ProxiedBackend(backend, proxy, PortOf(proxyListen.Http1), PortOf(proxyListen.Http2), gate);
            }
            catch
            {
                await backend.DisposeAsync();
                throw;
            }
        }

        private static ClusterConfig Cluster(string id, int port, ForwarderRequestConfig? request) => new()
        {
            ClusterId = id,
            Destinations = new Dictionary<string, DestinationConfig> { ["backend"] = new() { Address = $"http://127.0.0.1:{port}/" } },
            HttpRequest = request,
        };

        private static (ListenOptions, ListenOptions) ListenTwice(KestrelServerOptions kestrel)
        {
            ListenOptions? http1 = null, http2 = null;
            // The slow-reader body is larger than Kestrel's default 30 MB request body limit, on the proxy and the backend.
            kestrel.Limits.MaxRequestBodySize = null;
            kestrel.Listen(IPAddress.Loopback, 0, listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                http1 = listen;
            });
            kestrel.Listen(IPAddress.Loopback, 0, listen =>
            {
                listen.Protocols = HttpProtocols.Http2;
                http2 = listen;
            });
            return (http1!, http2!);
        }

        /// <summary>Kestrel replaces a listen option's port-0 endpoint with the bound one.</summary>
        private static int PortOf(ListenOptions? listen)
        {
            int port = (listen?.EndPoint as IPEndPoint)?.Port ?? 0;
            Assert.NotEqual(0, port);
            return port;
        }

        public async Task StopAndCheckBlocksReturnedAsync()
        {
            await ProxyServer.StopAndCheckBlocksReturnedAsync(Timeout);
            await Backend.StopAndCheckBlocksReturnedAsync(Timeout);
        }

        public async ValueTask DisposeAsync()
        {
            Gate.Release.TrySetResult();
            await ProxyServer.DisposeAsync();
            await Backend.DisposeAsync();
        }
    }

    private static void MapBackend(WebApplication app, SlowReaderGate gate)
    {
        app.UseWebSockets();
        app.MapGet("/hello", (HttpContext context) => string.Join('|', "hello from the backend", context.Request.Protocol,
            context.Request.Headers["X-Forwarded-For"].ToString(), context.Request.Headers["X-Forwarded-Host"].ToString(),
            context.Request.Headers["X-Forwarded-Proto"].ToString()));
        app.MapPost("/upload", async (HttpContext context) =>
        {
            (string hex, long length) = await HashHelpers.Sha256Async(context.Request.Body, context.RequestAborted);
            return $"{hex} {length}";
        });
        app.MapGet("/download/{seed:int}/{length:int}", async (int seed, int length, HttpContext context) =>
        {
            context.Response.ContentLength = length;
            var generator = new DeterministicData((ulong)seed);
            byte[] chunk = new byte[100_000];
            for (int left = length; left > 0; left -= chunk.Length)
            {
                int n = Math.Min(chunk.Length, left);
                generator.Fill(chunk.AsSpan(0, n));
                await context.Response.Body.WriteAsync(chunk.AsMemory(0, n), context.RequestAborted);
            }
        });
        app.Map("/ws", async (HttpContext context) =>
        {
            if (!context.WebSockets.IsWebSocketRequest)
            {
                context.Response.StatusCode = StatusCodes.Status400BadRequest;
                return;
            }
            // Relays each fragment back as it arrives, so message boundaries and types must survive the proxy twice.
            using WebSocket socket = await context.WebSockets.AcceptWebSocketAsync();
            byte[] buffer = new byte[32 * 1024];
            while (true)
            {
                ValueWebSocketReceiveResult result = await socket.ReceiveAsync(buffer.AsMemory(), context.RequestAborted);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "echo done", context.RequestAborted);
                    return;
                }
                await socket.SendAsync(buffer.AsMemory(0, result.Count), result.MessageType, result.EndOfMessage, context.RequestAborted);
            }
        });
        app.MapPost("/slow", async (HttpContext context) =>
        {
            gate.Started.TrySetResult();
            await gate.Release.Task.WaitAsync(context.RequestAborted);
            (string hex, long length) = await HashHelpers.Sha256Async(context.Request.BodyReader, context.RequestAborted);
            return $"{hex} {length}";
        });
        app.MapGrpcService<TesterService>();
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task PlainRequestsAndSixteenMebibyteBodiesBothWaysPassThroughIntact(string transport)
    {
        await using ProxiedBackend servers = await ProxiedBackend.StartAsync(transport);
        using (HttpClient client = servers.CreateClient())
        {
            string[] hello = (await client.GetStringAsync("/hello").WaitAsync(Timeout)).Split('|');
            Assert.Equal("hello from the backend", hello[0]);
            Assert.Equal("HTTP/1.1", hello[1]);
            Assert.Equal("127.0.0.1", hello[2]);
            Assert.Equal($"127.0.0.1:{servers.ProxyHttp1Port}", hello[3]);
            Assert.Equal("http", hello[4]);

            TimeSpan upload = await Figures.TimeAsync(async () =>
            {
                using HttpResponseMessage response = await client.PostAsync("/upload", new DeterministicContent(71, BodyLength, 60_000, knownLength: true)).WaitAsync(Timeout);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Equal($"{DeterministicData.Sha256Hex(71, BodyLength)} {BodyLength}", await response.Content.ReadAsStringAsync());
            });
            TimeSpan chunkedUpload = await Figures.TimeAsync(async () =>
            {
                using HttpResponseMessage response = await client.PostAsync("/upload", new DeterministicContent(72, BodyLength, 33_333, knownLength: false)).WaitAsync(Timeout);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Equal($"{DeterministicData.Sha256Hex(72, BodyLength)} {BodyLength}", await response.Content.ReadAsStringAsync());
            });
            TimeSpan download = await Figures.TimeAsync(async () =>
            {
                using HttpResponseMessage response = await client.GetAsync($"/download/73/{BodyLength}", HttpCompletionOption.ResponseHeadersRead).WaitAsync(Timeout);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Equal(BodyLength, response.Content.Headers.ContentLength);
                await HashHelpers.AssertDeterministicBodyAsync(response, 73, BodyLength, Timeout);
            });
            Figures.ReportMiB(output, "YARP", "16 MiB upload", transport, BodyLength, upload);
            Figures.ReportMiB(output, "YARP", "16 MiB chunked upload", transport, BodyLength, chunkedUpload);
            Figures.ReportMiB(output, "YARP", "16 MiB download", transport, BodyLength, download);
        }
        await servers.StopAndCheckBlocksReturnedAsync();
    }

    /// <summary>WebSocket message i: random bytes as a binary message, or (odd i) printable text, which must be valid UTF-8.</summary>
    private static (WebSocketMessageType Type, byte[] Data) Message(int i) => i % 2 == 0
        ? (WebSocketMessageType.Binary, TestPayloads.Get(i))
        : (WebSocketMessageType.Text, System.Text.Encoding.UTF8.GetBytes(TestPayloads.Text(i, 64 * 1024)));

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task WebSocketMessagesPassThroughInOrder(string transport)
    {
        const int count = 3_000;
        await using ProxiedBackend servers = await ProxiedBackend.StartAsync(transport);
        using (var socket = new ClientWebSocket())
        {
            await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{servers.ProxyHttp1Port}/ws"), CancellationToken.None).WaitAsync(Timeout);
            TimeSpan elapsed = await Figures.TimeAsync(async () =>
            {
                // Sending and receiving at once: the proxy has to move both directions of the upgraded connection.
                Task sender = Task.Run(async () =>
                {
                    for (int i = 0; i < count; i++)
                    {
                        (WebSocketMessageType type, byte[] data) = Message(i);
                        await socket.SendAsync(data, type, endOfMessage: true, CancellationToken.None);
                    }
                });
                byte[] buffer = new byte[64 * 1024];
                for (int i = 0; i < count; i++)
                {
                    int length = 0;
                    ValueWebSocketReceiveResult result;
                    do
                    {
                        result = await socket.ReceiveAsync(buffer.AsMemory(length), CancellationToken.None).AsTask().WaitAsync(Timeout);
                        length += result.Count;
                    }
                    while (!result.EndOfMessage);
                    (WebSocketMessageType type, byte[] expected) = Message(i);
                    Assert.Equal(type, result.MessageType);
                    Assert.True(buffer.AsSpan(0, length).SequenceEqual(expected), $"message {i} ({length} bytes) differs");
                }
                await sender.WaitAsync(Timeout);
            });
            Figures.Report(output, "YARP", "WebSocket echo", transport, count, "messages", elapsed);

            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None).WaitAsync(Timeout);
            Assert.Equal(WebSocketCloseStatus.NormalClosure, socket.CloseStatus);
            Assert.Equal("echo done", socket.CloseStatusDescription);
        }
        await servers.StopAndCheckBlocksReturnedAsync();
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task GrpcCallsPassThroughWithStatusAndTrailers(string transport)
    {
        await GrpcScenarios.WarmUpAsync().WaitAsync(Timeout);
        await using ProxiedBackend servers = await ProxiedBackend.StartAsync(transport);
        using (GrpcChannel channel = GrpcScenarios.CreateChannel(servers.ProxyHttp2Port))
        {
            var client = new Tester.TesterClient(channel);
            GrpcScenarios.Moved unary = await GrpcScenarios.UnaryAsync(client, tasks: 16, callsPerTask: 40);
            GrpcScenarios.Moved duplex = await GrpcScenarios.DuplexAsync(client, 3_000);
            GrpcScenarios.Moved upload = await GrpcScenarios.ClientStreamingAsync(client, 3_000);
            await GrpcScenarios.AssertStatusAndTrailersAsync(client);
            Figures.Report(output, "YARP", "gRPC unary, 16 tasks", transport, unary.Messages, "calls", unary.Elapsed);
            Figures.Report(output, "YARP", "gRPC bidi streaming", transport, duplex.Messages, "messages", duplex.Elapsed);
            Figures.Report(output, "YARP", "gRPC client streaming", transport, upload.Messages, "messages", upload.Elapsed);
        }
        await servers.StopAndCheckBlocksReturnedAsync();
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task SlowBackendReaderHoldsTheClientBackInsteadOfGrowingTheProxy(string transport)
    {
        await using ProxiedBackend servers = await ProxiedBackend.StartAsync(transport);
        using (HttpClient client = servers.CreateClient())
        {
            using var body = new MeteredContent(SlowBodyLength);
            Task<HttpResponseMessage> post = client.PostAsync("/slow", body);
            await servers.Gate.Started.Task.WaitAsync(Timeout);

            // The backend reads nothing, so the client must come to a standstill with most of the body unsent.
            long stalledAt = await RawClient.WaitForStallAsync(() => body.Sent, () => body.Writing, TimeSpan.FromMilliseconds(500), Timeout,
                () => $"the client sent {body.Sent} bytes");
            long proxyPool = servers.ProxyServer.MemoryPool.Outstanding * CountingMemoryPoolFactory.BlockSize;
            long backendPool = servers.Backend.MemoryPool.Outstanding * CountingMemoryPoolFactory.BlockSize;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{transport}: client stalled after {stalledAt / 1048576.0:F1} MiB of {SlowBodyLength / 1048576} MiB; proxy pool {proxyPool / 1048576.0:F2} MiB, backend pool {backendPool / 1048576.0:F2} MiB"));
            Assert.True(proxyPool <= ProxyPoolBound, $"the proxy's memory pool holds {proxyPool} bytes while its backend does not read (bound {ProxyPoolBound})");
            // Everything in flight (the kernel's socket buffers on both hops included) is well short of the body.
            Assert.True(stalledAt < SlowBodyLength / 2, $"the client sent {stalledAt} of {SlowBodyLength} bytes to a backend that reads nothing");

            // Released, the backend reads it all: nothing was lost or reordered while the proxy held the client back.
            servers.Gate.Release.TrySetResult();
            TimeSpan rest = await Figures.TimeAsync(async () =>
            {
                using HttpResponseMessage response = await post.WaitAsync(Timeout);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Equal($"{body.Sha256Hex} {SlowBodyLength}", await response.Content.ReadAsStringAsync());
            });
            Figures.ReportMiB(output, "YARP", "released slow upload", transport, SlowBodyLength - stalledAt, rest);
        }
        await servers.StopAndCheckBlocksReturnedAsync();
    }
}
