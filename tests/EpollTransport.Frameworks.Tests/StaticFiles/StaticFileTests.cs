using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using EpollTransport.Frameworks.Tests.Infrastructure;
using EpollTransport.Tests.Helpers;
using EpollTransport.Tests.Helpers.RawSockets;
using EpollTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.FileProviders;
using Xunit;
using Xunit.Abstractions;

namespace EpollTransport.Frameworks.Tests.StaticFiles;

/// <summary>A 64 MiB file of deterministic pseudo-random bytes in a temporary web root, made once for the class.</summary>
public sealed class LargeFileFixture : IDisposable
{
    public const string FileName = "large.bin";
    public const int Length = 64 * 1024 * 1024;

    public LargeFileFixture()
    {
        Root = Directory.CreateTempSubdirectory("epoll-static-").FullName;
        Content = DeterministicData.Create(20260, Length);
        File.WriteAllBytes(Path.Combine(Root, FileName), Content);
    }

    public string Root { get; }

    public byte[] Content { get; }

    public void Dispose() => Directory.Delete(Root, recursive: true);
}

/// <summary>
/// <c>UseStaticFiles</c> serving a 64 MiB file over each transport: whole, by ranges, and to a client that walks away
/// halfway through.
/// </summary>
public sealed class StaticFileTests(LargeFileFixture file, ITestOutputHelper output) : IClassFixture<LargeFileFixture>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private static readonly string FileUrl = "/" + LargeFileFixture.FileName;

    /// <summary>Counts the server's open connections (a connection middleware sees each from accept to close).</summary>
    private sealed class ConnectionCounter
    {
        private int _open;

        public int Open => Volatile.Read(ref _open);

        public void Opened() => Interlocked.Increment(ref _open);

        public void Closed() => Interlocked.Decrement(ref _open);
    }

    private Task<TestServer> StartAsync(string transport, ConnectionCounter? connections = null, HttpProtocols protocols = HttpProtocols.Http1)
        => TestServer.StartAsync(transport,
            app => app.UseStaticFiles(new StaticFileOptions { FileProvider = new PhysicalFileProvider(file.Root) }),
            new TestServerOptions
            {
                ConfigureKestrel = kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen =>
                {
                    listen.Protocols = protocols;
                    listen.Use(next => async connection =>
                    {
                        connections?.Opened();
                        try
                        {
                            await next(connection);
                        }
                        finally
                        {
                            connections?.Closed();
                        }
                    });
                }),
            });

    private static HttpClient CreateClient(TestServer server, Version version) => new(new SocketsHttpHandler())
    {
        BaseAddress = server.BaseUri,
        Timeout = Timeout,
        DefaultRequestVersion = version,
        DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
    };

    /// <summary>Reads the body and requires it to be byte for byte <paramref name="expected"/>.</summary>
    private static async Task AssertBodyAsync(HttpResponseMessage response, ReadOnlyMemory<byte> expected)
    {
        await using Stream body = await response.Content.ReadAsStreamAsync();
        byte[] buffer = new byte[256 * 1024];
        long offset = 0;
        int n;
        while ((n = await body.ReadAsync(buffer).AsTask().WaitAsync(Timeout)) > 0)
        {
            Assert.True(offset + n <= expected.Length, $"the body runs past its {expected.Length} bytes");
            if (!buffer.AsSpan(0, n).SequenceEqual(expected.Span.Slice((int)offset, n)))
            {
                int at = buffer.AsSpan(0, n).CommonPrefixLength(expected.Span.Slice((int)offset, n));
                Assert.Fail($"the body differs at byte {offset + at}");
            }
            offset += n;
        }
        Assert.Equal(expected.Length, offset);
    }

    [Theory]
    [MemberData(nameof(FrameworkTheories.TransportsAndHttpVersions), MemberType = typeof(FrameworkTheories))]
    public async Task WholeFileArrivesByteForByte(string transport, string version)
    {
        await using TestServer server = await StartAsync(transport, protocols: version == "2" ? HttpProtocols.Http2 : HttpProtocols.Http1);
        using (HttpClient client = CreateClient(server, FrameworkTheories.HttpVersionOf(version)))
        {
            TimeSpan elapsed = await Figures.TimeAsync(async () =>
            {
                using HttpResponseMessage response = await client.GetAsync(FileUrl, HttpCompletionOption.ResponseHeadersRead).WaitAsync(Timeout);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Equal(LargeFileFixture.Length, response.Content.Headers.ContentLength);
                Assert.Equal("application/octet-stream", response.Content.Headers.ContentType?.MediaType);
                Assert.Equal("bytes", response.Headers.AcceptRanges.Single());
                await AssertBodyAsync(response, file.Content);
            });
            Figures.ReportMiB(output, "StaticFiles", $"64 MiB whole file, HTTP/{version}", transport, LargeFileFixture.Length, elapsed);
        }
        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task RangeRequestsReturnExactlyTheRequestedBytes(string transport)
    {
        const long length = LargeFileFixture.Length;
        await using TestServer server = await StartAsync(transport);
        using (HttpClient client = CreateClient(server, HttpVersion.Version11))
        {
            // (from, to) as sent; null means open-ended (from-) or a suffix (-to). Block-boundary and end cases included.
            (long? From, long? To)[] ranges =
            [
                (0, 0), (0, 4095), (4095, 8192), (1000, 1_048_575), (33_554_431, 33_554_433 + 5_000_000),
                (length - 1, length - 1), (length - 100_000, null), (null, 4096), (null, length + 10), (0, length + 10),
            ];
            foreach ((long? from, long? to) in ranges)
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, FileUrl);
                request.Headers.Range = new RangeHeaderValue(from, to);
                using HttpResponseMessage response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).WaitAsync(Timeout);
                long first = from ?? Math.Max(0, length - to!.Value);
                long last = from is null ? length - 1 : Math.Min(to ?? length - 1, length - 1);
                Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
                ContentRangeHeaderValue contentRange = response.Content.Headers.ContentRange!;
                Assert.Equal((first, last, length), (contentRange.From, contentRange.To, contentRange.Length));
                Assert.Equal(last - first + 1, response.Content.Headers.ContentLength);
                await AssertBodyAsync(response, file.Content.AsMemory((int)first, (int)(last - first + 1)));
            }

            // A range that starts past the end cannot be satisfied.
            using (var request = new HttpRequestMessage(HttpMethod.Get, FileUrl))
            {
                request.Headers.Range = new RangeHeaderValue(length, null);
                using HttpResponseMessage response = await client.SendAsync(request).WaitAsync(Timeout);
                Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, response.StatusCode);
                Assert.Equal($"bytes */{length}", response.Content.Headers.GetValues("Content-Range").Single());
            }

            // A download manager: 64 ranges of 1 MiB at once, over however many connections the client opens.
            var random = new Random(17);
            long[] starts = Enumerable.Range(0, 64).Select(_ => random.NextInt64(0, length - 1_048_576)).ToArray();
            TimeSpan elapsed = await Figures.TimeAsync(() => Task.WhenAll(starts.Select(async start =>
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, FileUrl);
                request.Headers.Range = new RangeHeaderValue(start, start + 1_048_575);
                using HttpResponseMessage response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
                Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
                await AssertBodyAsync(response, file.Content.AsMemory((int)start, 1_048_576));
            })).WaitAsync(Timeout));
            Figures.ReportMiB(output, "StaticFiles", "64 concurrent 1 MiB ranges", transport, 64L * 1_048_576, elapsed);
        }
        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }

    /// <summary>
    /// ASP.NET Core's static file middleware deliberately does not serve multipart/byteranges: for a Range header with
    /// several ranges it ignores the header and sends the whole file with 200 (RFC 9110 allows that). This pins that
    /// behaviour, and that the whole 64 MiB then arrive intact, on every transport.
    /// </summary>
    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task MultiRangeRequestIsAnsweredWithTheWholeFile(string transport)
    {
        await using TestServer server = await StartAsync(transport);
        using (HttpClient client = CreateClient(server, HttpVersion.Version11))
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, FileUrl);
            request.Headers.Range = new RangeHeaderValue();
            request.Headers.Range.Ranges.Add(new RangeItemHeaderValue(0, 99));
            request.Headers.Range.Ranges.Add(new RangeItemHeaderValue(1_048_576, 1_049_599));
            request.Headers.Range.Ranges.Add(new RangeItemHeaderValue(null, 100));
            using HttpResponseMessage response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).WaitAsync(Timeout);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.NotEqual("multipart/byteranges", response.Content.Headers.ContentType?.MediaType);
            Assert.Null(response.Content.Headers.ContentRange);
            Assert.Equal(LargeFileFixture.Length, response.Content.Headers.ContentLength);
            await AssertBodyAsync(response, file.Content);
        }
        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task DownloadAbortedHalfwayLeavesNoConnectionAndNoBlockBehind(string transport)
    {
        var connections = new ConnectionCounter();
        await using TestServer server = await StartAsync(transport, connections);
        using (HttpClient client = CreateClient(server, HttpVersion.Version11))
        {
            using (HttpResponseMessage response = await client.GetAsync(FileUrl, HttpCompletionOption.ResponseHeadersRead).WaitAsync(Timeout))
            {
                Stream body = await response.Content.ReadAsStreamAsync();
                byte[] half = new byte[LargeFileFixture.Length / 2];
                await body.ReadExactlyAsync(half).AsTask().WaitAsync(Timeout);
                Assert.True(half.AsSpan().SequenceEqual(file.Content.AsSpan(0, half.Length)));
                Assert.Equal(1, connections.Open);
            }
            // Disposing the response with 32 MiB unread makes the client close the connection with data still in its
            // receive buffer, which Linux turns into a reset: the server is mid-write when the peer goes away.
        }

        // While the server keeps running, the connection must go away and every pool block it held come back.
        await RawClient.WaitUntilAsync(() => connections.Open == 0 && server.MemoryPool.Outstanding == 0, Timeout,
            () => $"{connections.Open} connection(s) open, {server.MemoryPool.Outstanding} block(s) outstanding");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{transport}: {server.MemoryPool.TotalRented} blocks rented in all, none outstanding"));

        // And the server still serves the file (its last MiB, to keep the test short).
        using (HttpClient client = CreateClient(server, HttpVersion.Version11))
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, FileUrl);
            request.Headers.Range = new RangeHeaderValue(null, 1_048_576);
            using HttpResponseMessage response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).WaitAsync(Timeout);
            Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
            await AssertBodyAsync(response, file.Content.AsMemory(LargeFileFixture.Length - 1_048_576));
        }
        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }
}
