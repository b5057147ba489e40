using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Security.Cryptography;
using EpollTransport.Tests.Helpers;
using EpollTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Xunit;

namespace EpollTransport.Tests.Conformance;

/// <summary>
/// Connection middleware that replaces <c>ConnectionContext.Transport</c> (as TLS or logging middleware
/// does): HTTP must still work through the replacement and connections must still end properly.
/// </summary>
public class ConnectionMiddlewareTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>A different <see cref="IDuplexPipe"/> object exposing the very same reader and writer.</summary>
    private sealed class PassThroughDuplexPipe(IDuplexPipe inner) : IDuplexPipe
    {
        public PipeReader Input => inner.Input;

        public PipeWriter Output => inner.Output;
    }

    /// <summary>Wraps the reader and writer themselves, counting the bytes Kestrel consumes and produces.</summary>
    private sealed class CountingDuplexPipe(IDuplexPipe inner) : IDuplexPipe
    {
        private readonly CountingReader _input = new(inner.Input);
        private readonly CountingWriter _output = new(inner.Output);

        public PipeReader Input => _input;

        public PipeWriter Output => _output;

        public long BytesConsumed => _input.Consumed;

        public long BytesWritten => _output.Written;
    }

    private sealed class CountingReader(PipeReader inner) : PipeReader
    {
        private ReadOnlySequence<byte> _last;
        private long _consumed;

        public long Consumed => Interlocked.Read(ref _consumed);

        public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            ReadResult result = await inner.ReadAsync(cancellationToken);
            _last = result.Buffer;
            return result;
        }

        public override bool TryRead(out ReadResult result)
        {
            if (inner.TryRead(out result))
            {
                _last = result.Buffer;
                return true;
            }
            return false;
        }

        public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
        {
            Interlocked.Add(ref _consumed, _last.Slice(_last.Start, consumed).Length);
            _last = default;
            inner.AdvanceTo(consumed, examined);
        }

        public override void CancelPendingRead() => inner.CancelPendingRead();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);
    }

    private sealed class CountingWriter(PipeWriter inner) : PipeWriter
    {
        private long _written;

        public long Written => Interlocked.Read(ref _written);

        public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;

        public override long UnflushedBytes => inner.UnflushedBytes;

        public override void Advance(int bytes)
        {
            Interlocked.Add(ref _written, bytes);
            inner.Advance(bytes);
        }

        public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);

        public override ValueTask<FlushResult> WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default)
        {
            Interlocked.Add(ref _written, source.Length);
            return inner.WriteAsync(source, cancellationToken);
        }

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);
    }

    private static void MapEndpoints(WebApplication app)
    {
        app.MapGet("/hello/{i:int}", (int i) => $"hello {i}");
        app.MapPost("/echo", async (HttpContext context) =>
        {
            context.Response.ContentLength = context.Request.ContentLength;
            await context.Request.BodyReader.CopyToAsync(context.Response.BodyWriter, context.RequestAborted);
        });
    }

    /// <summary>A feature only connection middleware knows about; HTTP must find it on the connection.</summary>
    private sealed class TenantFeature(string name)
    {
        public string Name { get; } = name;
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task FeaturesSetByConnectionMiddlewareReachEveryRequestOnTheConnection(string transport)
    {
        int connections = 0;
        await using var server = await TestServer.StartAsync(transport, app =>
            app.MapGet("/tenant", (HttpContext context) =>
                $"{context.Features.Get<TenantFeature>()?.Name ?? "none"} {context.Features.Get<Microsoft.AspNetCore.Connections.Features.IConnectionIdFeature>()?.ConnectionId == context.Connection.Id}"),
            new TestServerOptions
            {
                ConfigureKestrel = kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Use(next => context =>
                {
                    context.Features.Set(new TenantFeature($"tenant-{Interlocked.Increment(ref connections)}"));
                    return next(context);
                })),
            });

        for (int c = 1; c <= 2; c++)
        {
            using var connection = await RawHttpConnection.ConnectAsync(server.EndPoint);
            for (int i = 0; i < 3; i++)
            {
                await connection.SendAsync("GET /tenant HTTP/1.1\r\nHost: localhost\r\n\r\n");
                RawHttpResponse response = await connection.ReadResponseAsync().WaitAsync(Timeout);
                Assert.Equal(200, response.StatusCode);
                Assert.Equal($"tenant-{c} True", response.BodyText);
            }
        }

        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task PassThroughTransportReplacementServesRequestsAndClosesOnConnectionClose(string transport)
    {
        int middlewareRuns = 0;
        await using var server = await TestServer.StartAsync(transport, MapEndpoints, new TestServerOptions
        {
            ConfigureKestrel = kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Use(next => context =>
            {
                Interlocked.Increment(ref middlewareRuns);
                context.Transport = new PassThroughDuplexPipe(context.Transport);
                return next(context);
            })),
        });

        using (var connection = await RawHttpConnection.ConnectAsync(server.EndPoint))
        {
            for (int i = 0; i < 10; i++)
            {
                await connection.SendAsync($"GET /hello/{i} HTTP/1.1\r\nHost: localhost\r\n\r\n");
                RawHttpResponse response = await connection.ReadResponseAsync().WaitAsync(Timeout);
                Assert.Equal(200, response.StatusCode);
                Assert.Equal($"hello {i}", response.BodyText);
            }

            await connection.SendAsync("GET /hello/99 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
            RawHttpResponse last = await connection.ReadResponseAsync().WaitAsync(Timeout);
            Assert.Equal("hello 99", last.BodyText);
            Assert.Equal("close", last.Header("Connection"));
            await connection.ExpectEofAsync();
        }

        Assert.Equal(1, Volatile.Read(ref middlewareRuns));
        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task WrappedReaderAndWriterCarryLargeBodies(string transport)
    {
        var pipes = new List<CountingDuplexPipe>();
        var connectionEnded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await TestServer.StartAsync(transport, MapEndpoints, new TestServerOptions
        {
            ConfigureKestrel = kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Use(next => async context =>
            {
                IDuplexPipe original = context.Transport;
                var counting = new CountingDuplexPipe(original);
                lock (pipes)
                {
                    pipes.Add(counting);
                }
                context.Transport = counting;
                try
                {
                    await next(context);
                }
                finally
                {
                    context.Transport = original;
                    connectionEnded.TrySetResult();
                }
            })),
        });

        const int length = 4 * 1024 * 1024;
        using (var connection = await RawHttpConnection.ConnectAsync(server.EndPoint))
        {
            byte[] body = DeterministicData.Create(8, length);
            await connection.SendAsync($"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: {length}\r\n\r\n");
            Task send = connection.SendAsync(body);
            RawHttpResponse response = await connection.ReadResponseAsync().WaitAsync(Timeout);
            await send.WaitAsync(Timeout);
            Assert.Equal(200, response.StatusCode);
            Assert.Equal(SHA256.HashData(body), SHA256.HashData(response.Body));

            await connection.SendAsync("GET /hello/1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
            RawHttpResponse last = await connection.ReadResponseAsync().WaitAsync(Timeout);
            Assert.Equal("hello 1", last.BodyText);
            await connection.ExpectEofAsync();
        }

        await connectionEnded.Task.WaitAsync(Timeout);
        CountingDuplexPipe pipe = Assert.Single(pipes);
        Assert.True(pipe.BytesConsumed > length, $"Kestrel consumed {pipe.BytesConsumed} bytes through the wrapper.");
        Assert.True(pipe.BytesWritten > length, $"Kestrel wrote {pipe.BytesWritten} bytes through the wrapper.");

        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task Http2ThroughWrappedTransportWorks(string transport)
    {
        await using var server = await TestServer.StartAsync(transport, MapEndpoints, new TestServerOptions
        {
            ConfigureKestrel = kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen =>
            {
                listen.Protocols = HttpProtocols.Http2;
                listen.Use(next => context =>
                {
                    context.Transport = new CountingDuplexPipe(context.Transport);
                    return next(context);
                });
            }),
        });

        using (HttpClient client = server.CreateClient(HttpVersion.Version20))
        {
            string[] bodies = await Task.WhenAll(Enumerable.Range(0, 50).Select(i => client.GetStringAsync($"/hello/{i}"))).WaitAsync(Timeout);
            for (int i = 0; i < bodies.Length; i++)
            {
                Assert.Equal($"hello {i}", bodies[i]);
            }
        }

        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }
}
