using System.IO.Pipelines;
using System.Net;
using System.Text;
using EpollTransport.Tests.Helpers;
using EpollTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Xunit;

namespace EpollTransport.Tests.Conformance;

/// <summary>HTTP/2 with prior knowledge (h2c): many multiplexed streams on one connection, large bodies.</summary>
public class Http2Tests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static TestServerOptions Http2Only() => new()
    {
        ConfigureKestrel = kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2),
    };

    private static HttpClient CreateH2Client(TestServer server)
    {
        var client = new HttpClient(new SocketsHttpHandler { EnableMultipleHttp2Connections = false })
        {
            BaseAddress = server.BaseUri,
            Timeout = Timeout,
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        return client;
    }

    private static string ExpectedBody(int i) => $"stream-{i}:" + DeterministicData.AsciiText((ulong)i + 1, i * 53 % 20_000);

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task TwoHundredFiftyConcurrentRequestsShareOneConnection(string transport)
    {
        await using var server = await TestServer.StartAsync(transport, app =>
            app.MapGet("/s/{i:int}", async (int i, HttpContext context) =>
            {
                context.Response.Headers["x-connection"] = context.Connection.Id;
                context.Response.Headers["x-protocol"] = context.Request.Protocol;
                await context.Response.WriteAsync(ExpectedBody(i), context.RequestAborted);
            }), Http2Only());

        const int count = 250;
        using (HttpClient client = CreateH2Client(server))
        {
            string[] connectionIds = await Task.WhenAll(Enumerable.Range(0, count).Select(async i =>
            {
                using HttpResponseMessage response = await client.GetAsync($"/s/{i}");
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Equal(HttpVersion.Version20, response.Version);
                Assert.Equal("HTTP/2", response.Headers.GetValues("x-protocol").Single());
                Assert.Equal(ExpectedBody(i), await response.Content.ReadAsStringAsync());
                return response.Headers.GetValues("x-connection").Single();
            })).WaitAsync(Timeout);

            Assert.Single(connectionIds.Distinct());
        }

        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task ConcurrentUploadsAndDownloadsAreMultiplexedIntact(string transport)
    {
        await using var server = await TestServer.StartAsync(transport, app =>
        {
            app.MapPost("/hash", async (HttpContext context) =>
            {
                (string hex, long length) = await HashHelpers.Sha256Async(context.Request.BodyReader, context.RequestAborted);
                return $"{hex} {length}";
            });
            app.MapGet("/download/{seed:int}/{length:int}", async (int seed, int length, HttpContext context) =>
            {
                var generator = new DeterministicData((ulong)seed);
                byte[] scratch = new byte[16 * 1024];
                while (length > 0)
                {
                    int n = Math.Min(scratch.Length, length);
                    generator.Fill(scratch.AsSpan(0, n));
                    await context.Response.Body.WriteAsync(scratch.AsMemory(0, n), context.RequestAborted);
                    length -= n;
                }
            });
        }, Http2Only());

        const int length = 1024 * 1024 + 7;
        using (HttpClient client = CreateH2Client(server))
        {
            IEnumerable<Task> uploads = Enumerable.Range(0, 6).Select(async i =>
            {
                using var content = new DeterministicContent((ulong)(500 + i), length, writeSize: 20_000, knownLength: i % 2 == 0);
                using HttpResponseMessage response = await client.PostAsync("/hash", content);
                Assert.Equal(HttpVersion.Version20, response.Version);
                Assert.Equal($"{DeterministicData.Sha256Hex((ulong)(500 + i), length)} {length}", await response.Content.ReadAsStringAsync());
            });
            IEnumerable<Task> downloads = Enumerable.Range(0, 6).Select(async i =>
            {
                using HttpResponseMessage response = await client.GetAsync($"/download/{600 + i}/{length}", HttpCompletionOption.ResponseHeadersRead);
                Assert.Equal(HttpVersion.Version20, response.Version);
                await HashHelpers.AssertDeterministicBodyAsync(response, (ulong)(600 + i), length);
            });
            await Task.WhenAll(uploads.Concat(downloads)).WaitAsync(Timeout);
        }

        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task SixteenMiBDownloadOverOneStreamIsIntact(string transport)
    {
        const int length = 16 * 1024 * 1024;
        await using var server = await TestServer.StartAsync(transport, app =>
            app.MapGet("/big", async (HttpContext context) =>
            {
                context.Response.ContentLength = length;
                var generator = new DeterministicData(77);
                int left = length;
                while (left > 0)
                {
                    Memory<byte> memory = context.Response.BodyWriter.GetMemory(32 * 1024);
                    int n = Math.Min(memory.Length, left);
                    generator.Fill(memory.Span[..n]);
                    context.Response.BodyWriter.Advance(n);
                    await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
                    left -= n;
                }
            }), Http2Only());

        using (HttpClient client = CreateH2Client(server))
        {
            using HttpResponseMessage response = await client.GetAsync("/big", HttpCompletionOption.ResponseHeadersRead).WaitAsync(Timeout);
            Assert.Equal(HttpVersion.Version20, response.Version);
            await HashHelpers.AssertDeterministicBodyAsync(response, seed: 77, length, Timeout);
        }

        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task Http1RequestToHttp2OnlyEndpointFails(string transport)
    {
        await using var server = await TestServer.StartAsync(transport, app => app.MapGet("/", () => "hi"), Http2Only());

        // An HTTP/1.1 request to a prior-knowledge HTTP/2 endpoint is not a valid preface: Kestrel
        // answers with an HTTP/1.1 400 explaining the mistake and closes the connection.
        using (var connection = await RawHttpConnection.ConnectAsync(server.EndPoint))
        {
            await connection.SendAsync("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
            RawHttpResponse response = await connection.ReadResponseAsync().WaitAsync(Timeout);
            Assert.Equal(400, response.StatusCode);
            Assert.Contains("HTTP/2 only endpoint", response.BodyText);
            await connection.ExpectEofAsync();
        }

        // The endpoint still serves HTTP/2 afterwards.
        using (HttpClient client = CreateH2Client(server))
        {
            Assert.Equal("hi", await client.GetStringAsync("/").WaitAsync(Timeout));
        }

        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }
    /// <summary>Request content that writes message i only after the caller has seen the echo of message i - 1.</summary>
    private sealed class PingPongContent(int rounds, Func<int, Task> waitForEcho) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            for (int i = 0; i < rounds; i++)
            {
                await stream.WriteAsync(Encoding.ASCII.GetBytes($"ping {i:D3}\n"));
                await stream.FlushAsync();
                await waitForEcho(i);
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task FullDuplexStreamPingPongsWithinOneRequest(string transport)
    {
        await using var server = await TestServer.StartAsync(transport, app =>
            app.MapPost("/duplex", async (HttpContext context) =>
            {
                await context.Response.StartAsync(context.RequestAborted);
                await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
                // Echo whatever arrives as soon as it arrives.
                while (true)
                {
                    ReadResult result = await context.Request.BodyReader.ReadAsync(context.RequestAborted);
                    foreach (ReadOnlyMemory<byte> segment in result.Buffer)
                    {
                        await context.Response.BodyWriter.WriteAsync(segment, context.RequestAborted);
                    }
                    context.Request.BodyReader.AdvanceTo(result.Buffer.End);
                    if (result.IsCompleted)
                    {
                        break;
                    }
                }
            }), Http2Only());

        const int rounds = 30;
        var echoed = Enumerable.Range(0, rounds).Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
        using (HttpClient client = CreateH2Client(server))
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/duplex")
            {
                Version = HttpVersion.Version20,
                VersionPolicy = HttpVersionPolicy.RequestVersionExact,
                Content = new PingPongContent(rounds, i => echoed[i].Task.WaitAsync(Timeout)),
            };
            using HttpResponseMessage response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).WaitAsync(Timeout);
            Assert.Equal(HttpVersion.Version20, response.Version);
            await using Stream stream = await response.Content.ReadAsStreamAsync();
            await stream.ExpectMessagesThenEndAsync(rounds, i => $"ping {i:D3}\n", i => echoed[i].SetResult(), Timeout);
        }

        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }
}
