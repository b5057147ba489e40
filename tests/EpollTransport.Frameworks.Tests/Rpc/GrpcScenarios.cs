using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using EpollTransport.Frameworks.Tests.Infrastructure;
using EpollTransport.Tests.Infrastructure;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace EpollTransport.Frameworks.Tests.Rpc;

/// <summary>
/// The gRPC client scenarios, shared by the direct tests and the ones through YARP: each drives the real
/// Grpc.Net.Client, verifies every message it receives, and returns what it moved and how long it took.
/// </summary>
public static class GrpcScenarios
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    /// <summary>A server options with one h2c endpoint (gRPC needs HTTP/2; no TLS means prior knowledge).</summary>
    public static TestServerOptions ServerOptions(GrpcProbe probe) => new()
    {
        ConfigureKestrel = kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2),
        ConfigureServices = services =>
        {
            services.AddGrpc();
            services.AddSingleton(probe);
        },
    };

    public static void MapService(WebApplication app) => app.MapGrpcService<TesterService>();

    /// <summary>A channel over one HTTP/2 connection, so the tests can tell that a connection survived a cancelled call.</summary>
    public static GrpcChannel CreateChannel(int port) => GrpcChannel.ForAddress($"http://127.0.0.1:{port}", new GrpcChannelOptions
    {
        HttpHandler = new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = false,
            PooledConnectionIdleTimeout = System.Threading.Timeout.InfiniteTimeSpan,
        },
    });

    public record struct Moved(int Messages, long Bytes, TimeSpan Elapsed);

    private static readonly Lazy<Task> WarmUp = new(WarmUpCoreAsync);

    /// <summary>
    /// The first streaming call in a test process runs about ten times slower than the next (JIT and tiering of
    /// gRPC's and protobuf's code), whichever transport it is on; measured that way, the figures would blame the
    /// warm-up on whichever transport happened to run first. The measuring tests therefore run every call shape
    /// once per process first, on Sockets and untimed.
    /// </summary>
    public static Task WarmUpAsync() => WarmUp.Value;

    private static async Task WarmUpCoreAsync()
    {
        await using TestServer server = await TestServer.StartAsync(Transports.Sockets, MapService, ServerOptions(new GrpcProbe()));
        using GrpcChannel channel = CreateChannel(server.Port);
        var client = new Tester.TesterClient(channel);
        await UnaryAsync(client, tasks: 4, callsPerTask: 50);
        await ServerStreamingAsync(client, 6_000);
        await ClientStreamingAsync(client, 3_000);
        await DuplexAsync(client, 3_000);
    }

    /// <summary><paramref name="tasks"/> tasks each make <paramref name="callsPerTask"/> unary calls, checking every echo.</summary>
    public static async Task<Moved> UnaryAsync(Tester.TesterClient client, int tasks, int callsPerTask)
    {
        long bytes = 0;
        long start = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, tasks).Select(task => Task.Run(async () =>
        {
            for (int call = 0; call < callsPerTask; call++)
            {
                int index = task * callsPerTask + call;
                Payload reply = await client.EchoAsync(TesterService.Message(index), deadline: DateTime.UtcNow + Timeout);
                TesterService.Verify(reply, index);
                Interlocked.Add(ref bytes, reply.Data.Length);
            }
        }))).WaitAsync(Timeout);
        return new Moved(tasks * callsPerTask, bytes, Stopwatch.GetElapsedTime(start));
    }

    public static async Task<Moved> ServerStreamingAsync(Tester.TesterClient client, int count)
    {
        long start = Stopwatch.GetTimestamp();
        using AsyncServerStreamingCall<Payload> call = client.Download(new DownloadRequest { Count = count }, deadline: DateTime.UtcNow + Timeout);
        int received = 0;
        long bytes = 0;
        await foreach (Payload payload in call.ResponseStream.ReadAllAsync())
        {
            TesterService.Verify(payload, received++);
            bytes += payload.Data.Length;
        }
        Assert.Equal(count, received);
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
        return new Moved(count, bytes, Stopwatch.GetElapsedTime(start));
    }

    public static async Task<Moved> ClientStreamingAsync(Tester.TesterClient client, int count)
    {
        long start = Stopwatch.GetTimestamp();
        using AsyncClientStreamingCall<Payload, UploadSummary> call = client.Upload(deadline: DateTime.UtcNow + Timeout);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long bytes = 0;
        for (int i = 0; i < count; i++)
        {
            Payload message = TesterService.Message(i);
            hash.AppendData(message.Data.Span);
            bytes += message.Data.Length;
            await call.RequestStream.WriteAsync(message);
        }
        await call.RequestStream.CompleteAsync();
        UploadSummary summary = await call.ResponseAsync;
        Assert.Equal(count, summary.Count);
        Assert.Equal(bytes, summary.Bytes);
        Assert.Equal(Convert.ToHexStringLower(hash.GetHashAndReset()), summary.Sha256);
        return new Moved(count, bytes, Stopwatch.GetElapsedTime(start));
    }

    /// <summary>Writes and reads concurrently: the server verifies each message and echoes it, the client verifies the echoes.</summary>
    public static async Task<Moved> DuplexAsync(Tester.TesterClient client, int count)
    {
        long start = Stopwatch.GetTimestamp();
        using AsyncDuplexStreamingCall<Payload, Payload> call = client.Duplex(deadline: DateTime.UtcNow + Timeout);
        Task writer = Task.Run(async () =>
        {
            for (int i = 0; i < count; i++)
            {
                await call.RequestStream.WriteAsync(TesterService.Message(i));
            }
            await call.RequestStream.CompleteAsync();
        });
        int received = 0;
        long bytes = 0;
        await foreach (Payload payload in call.ResponseStream.ReadAllAsync())
        {
            TesterService.Verify(payload, received++);
            bytes += payload.Data.Length;
        }
        await writer;
        Assert.Equal(count, received);
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
        return new Moved(count, bytes, Stopwatch.GetElapsedTime(start));
    }

    /// <summary>The status codes (with a non-ASCII detail) and trailers (text and binary) a server sets arrive intact.</summary>
    public static async Task AssertStatusAndTrailersAsync(Tester.TesterClient client)
    {
        using (AsyncUnaryCall<Payload> ok = client.FailAsync(new FailRequest { StatusCode = 0, TrailerValue = "fine" }))
        {
            Metadata headers = await ok.ResponseHeadersAsync.WaitAsync(Timeout);
            Assert.Equal("header-fine", headers.GetValue(TesterService.ResponseHeader));
            Assert.Equal(1, (await ok.ResponseAsync.WaitAsync(Timeout)).Index);
            Assert.Equal(StatusCode.OK, ok.GetStatus().StatusCode);
            Metadata trailers = ok.GetTrailers();
            Assert.Equal("fine", trailers.GetValue(TesterService.TextTrailer));
            Assert.Equal(TesterService.BinaryTrailerValue, trailers.GetValueBytes(TesterService.BinaryTrailer));
        }

        StatusCode[] codes =
        [
            StatusCode.InvalidArgument, StatusCode.NotFound, StatusCode.AlreadyExists, StatusCode.PermissionDenied,
            StatusCode.ResourceExhausted, StatusCode.FailedPrecondition, StatusCode.Aborted, StatusCode.OutOfRange,
            StatusCode.Unimplemented, StatusCode.Internal, StatusCode.Unavailable, StatusCode.DataLoss, StatusCode.Unauthenticated,
        ];
        foreach (StatusCode code in codes)
        {
            string detail = $"{code}: détail ✓ 100% \"quoted\"";
            RpcException e = await Assert.ThrowsAsync<RpcException>(() =>
                client.FailAsync(new FailRequest { StatusCode = (int)code, Detail = detail, TrailerValue = $"t-{code}" }).ResponseAsync.WaitAsync(Timeout));
            Assert.Equal(code, e.StatusCode);
            Assert.Equal(detail, e.Status.Detail);
            Assert.Equal($"t-{code}", e.Trailers.GetValue(TesterService.TextTrailer));
            Assert.Equal(TesterService.BinaryTrailerValue, e.Trailers.GetValueBytes(TesterService.BinaryTrailer));
        }
    }
}
