using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using EpollTransport.Tests.Helpers;
using EpollTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Xunit;

namespace EpollTransport.Tests.Conformance;

/// <summary>HTTP/1.1 over the transport: keep-alive, pipelining, large and chunked bodies in both directions.</summary>
public class Http1Tests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private const int LargeBodySize = 16 * 1024 * 1024;

    /// <summary>Maps /hash (SHA-256 of the request body), /download (deterministic body) and /echo-info.</summary>
    private static void MapBodyEndpoints(WebApplication app)
    {
        app.MapPost("/hash", async (HttpContext context) =>
        {
            (string hex, long length) = await HashHelpers.Sha256Async(context.Request.BodyReader, context.RequestAborted);
            string te = context.Request.Headers.TransferEncoding.ToString();
            return $"{hex} {length} {(string.IsNullOrEmpty(te) ? "-" : te)}";
        });

        // /download?seed=&length=&chunk=&known=1 writes deterministic data in chunks.
        app.MapGet("/download", async (HttpContext context) =>
        {
            ulong seed = ulong.Parse(context.Request.Query["seed"]!, CultureInfo.InvariantCulture);
            long length = long.Parse(context.Request.Query["length"]!, CultureInfo.InvariantCulture);
            int chunk = int.Parse(context.Request.Query["chunk"]!, CultureInfo.InvariantCulture);
            bool known = context.Request.Query["known"] == "1";
            bool useStream = context.Request.Query["stream"] == "1";
            if (known)
            {
                context.Response.ContentLength = length;
            }
            context.Response.ContentType = "application/octet-stream";
            var generator = new DeterministicData(seed);
            byte[] scratch = new byte[chunk];
            while (length > 0)
            {
                int n = (int)Math.Min(chunk, length);
                if (useStream)
                {
                    generator.Fill(scratch.AsSpan(0, n));
                    await context.Response.Body.WriteAsync(scratch.AsMemory(0, n), context.RequestAborted);
                }
                else
                {
                    Memory<byte> memory = context.Response.BodyWriter.GetMemory(n);
                    int m = Math.Min(n, memory.Length);
                    generator.Fill(memory.Span[..m]);
                    context.Response.BodyWriter.Advance(m);
                    n = m;
                    FlushResult flush = await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
                    if (flush.IsCanceled || flush.IsCompleted)
                    {
                        return;
                    }
                }
                length -= n;
            }
        });
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task SequentialKeepAliveRequestsReuseOneConnection(string transport)
    {
        await using var server = await TestServer.StartAsync(transport, app =>
            app.MapGet("/seq/{i:int}", (int i, HttpContext context) => $"{context.Connection.Id}|{i}|{new string('x', i * 97 % 3000)}"));

        var connectionIds = new HashSet<string>();
        using (var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 1 })
        using (var client = new HttpClient(handler) { BaseAddress = server.BaseUri, Timeout = Timeout })
        {
            for (int i = 0; i < 200; i++)
            {
                string body = await client.GetStringAsync($"/seq/{i}").WaitAsync(Timeout);
                string[] parts = body.Split('|');
                Assert.Equal(i.ToString(CultureInfo.InvariantCulture), parts[1]);
                Assert.Equal(i * 97 % 3000, parts[2].Length);
                connectionIds.Add(parts[0]);
            }
        }

        Assert.Single(connectionIds);
        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task SequentialRequestsOnOneRawSocketKeepItOpen(string transport)
    {
        await using var server = await TestServer.StartAsync(transport, app =>
            app.MapPost("/len", async (HttpContext context) =>
            {
                (string hex, long length) = await HashHelpers.Sha256Async(context.Request.BodyReader);
                return $"{length}:{hex}";
            }));

        using (var connection = await RawHttpConnection.ConnectAsync(server.EndPoint))
        {
            for (int i = 0; i < 50; i++)
            {
                byte[] body = DeterministicData.Create((ulong)i + 1, i * 211);
                await connection.SendAsync($"POST /len HTTP/1.1\r\nHost: localhost\r\nContent-Length: {body.Length}\r\n\r\n");
                await connection.SendAsync(body);
                RawHttpResponse response = await connection.ReadResponseAsync().WaitAsync(Timeout);
                Assert.Equal(200, response.StatusCode);
                Assert.Null(response.Header("Connection"));
                Assert.Equal($"{body.Length}:{Convert.ToHexStringLower(SHA256.HashData(body))}", response.BodyText);
            }

            // The last request asks to close: the server answers and then ends the connection.
            await connection.SendAsync("POST /len HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            RawHttpResponse last = await connection.ReadResponseAsync().WaitAsync(Timeout);
            Assert.Equal(200, last.StatusCode);
            Assert.Equal("close", last.Header("Connection"));
            await connection.ExpectEofAsync();
        }

        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task HundredPipelinedRequestsInOneWriteAreAnsweredInOrder(string transport)
    {
        await using var server = await TestServer.StartAsync(transport, app =>
            app.MapGet("/p/{i:int}", (int i) => $"pipelined-{i}-{new string((char)('a' + i % 26), i * 13)}"));

        const int count = 100;
        using (var connection = await RawHttpConnection.ConnectAsync(server.EndPoint))
        {
            await connection.SendPipelinedGetsAsync(count, i => $"/p/{i}");
            await connection.ReadResponsesAsync(count, Timeout, (i, response) =>
            {
                Assert.Equal(200, response.StatusCode);
                Assert.Equal($"pipelined-{i}-{new string((char)('a' + i % 26), i * 13)}", response.BodyText);
            });

            // Nothing more must arrive; closing our side makes the server close too.
            connection.Socket.Shutdown(System.Net.Sockets.SocketShutdown.Send);
            await connection.ExpectEofAsync();
        }

        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task SixteenMiBUploadIsHashedIntact(string transport)
    {
        await using var server = await TestServer.StartAsync(transport, MapBodyEndpoints);
        using (var client = server.CreateClient())
        {
            using var content = new DeterministicContent(seed: 42, LargeBodySize, writeSize: 100_003, knownLength: true);
            using HttpResponseMessage response = await client.PostAsync("/hash", content).WaitAsync(Timeout);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            string body = await response.Content.ReadAsStringAsync();
            Assert.Equal($"{DeterministicData.Sha256Hex(42, LargeBodySize)} {LargeBodySize} -", body);
        }

        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task SixteenMiBDownloadIsHashedIntact(string transport)
    {
        await using var server = await TestServer.StartAsync(transport, MapBodyEndpoints);
        using (var client = server.CreateClient())
        {
            // Through the BodyWriter (pipe) path and through the Stream path.
            foreach (string path in new[] { "/download?seed=7&length=16777216&chunk=65536&known=1", "/download?seed=7&length=16777216&chunk=50000&known=1&stream=1" })
            {
                using HttpResponseMessage response = await client.GetAsync(path, HttpCompletionOption.ResponseHeadersRead).WaitAsync(Timeout);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Equal(LargeBodySize, response.Content.Headers.ContentLength);
                await HashHelpers.AssertDeterministicBodyAsync(response, seed: 7, LargeBodySize, Timeout);
            }
        }

        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task ChunkedRequestBodyFromHttpClientIsReceivedIntact(string transport)
    {
        await using var server = await TestServer.StartAsync(transport, MapBodyEndpoints);
        using (var client = server.CreateClient())
        {
            const int length = 3 * 1024 * 1024 + 17;
            using var content = new DeterministicContent(seed: 99, length, writeSize: 8191, knownLength: false);
            using HttpResponseMessage response = await client.PostAsync("/hash", content).WaitAsync(Timeout);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal($"{DeterministicData.Sha256Hex(99, length)} {length} chunked", await response.Content.ReadAsStringAsync());
        }

        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task HandWrittenChunkedRequestBodyIsReceivedIntact(string transport)
    {
        await using var server = await TestServer.StartAsync(transport, MapBodyEndpoints);

        int[] chunkSizes = [1, 2, 15, 16, 4095, 4096, 4097, 65536, 100_000, 3];
        byte[] payload = DeterministicData.Create(5, chunkSizes.Sum());
        var wire = new MemoryStream();
        void Ascii(string s) => wire.Write(Encoding.ASCII.GetBytes(s));
        Ascii("POST /hash HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n");
        int offset = 0;
        for (int i = 0; i < chunkSizes.Length; i++)
        {
            // Upper- and lower-case hex and a chunk extension on some chunks.
            string size = i % 2 == 0 ? chunkSizes[i].ToString("x", CultureInfo.InvariantCulture) : chunkSizes[i].ToString("X", CultureInfo.InvariantCulture);
            Ascii(i % 3 == 0 ? $"{size};ext=yes\r\n" : $"{size}\r\n");
            wire.Write(payload, offset, chunkSizes[i]);
            offset += chunkSizes[i];
            Ascii("\r\n");
        }
        Ascii("0\r\nX-Trailer: done\r\n\r\n");
        byte[] bytes = wire.ToArray();

        using (var connection = await RawHttpConnection.ConnectAsync(server.EndPoint))
        {
            // Once in one write, then again dribbled in odd-sized pieces on the same connection.
            await connection.SendAsync(bytes);
            RawHttpResponse first = await connection.ReadResponseAsync().WaitAsync(Timeout);
            Assert.Equal(200, first.StatusCode);
            string expected = $"{Convert.ToHexStringLower(SHA256.HashData(payload))} {payload.Length} chunked";
            Assert.Equal(expected, first.BodyText);

            for (int start = 0; start < bytes.Length; start += 7919)
            {
                await connection.SendAsync(bytes.AsMemory(start, Math.Min(7919, bytes.Length - start)));
            }
            RawHttpResponse second = await connection.ReadResponseAsync().WaitAsync(Timeout);
            Assert.Equal(200, second.StatusCode);
            Assert.Equal(expected, second.BodyText);
        }

        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task ChunkedResponseWithoutContentLengthIsReceivedIntact(string transport)
    {
        await using var server = await TestServer.StartAsync(transport, MapBodyEndpoints);
        const int length = 2 * 1024 * 1024 + 333;
        string path = $"/download?seed=11&length={length}&chunk=10007&known=0";

        using (var client = server.CreateClient())
        {
            using HttpResponseMessage response = await client.GetAsync(path, HttpCompletionOption.ResponseHeadersRead).WaitAsync(Timeout);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.True(response.Headers.TransferEncodingChunked);
            Assert.Null(response.Content.Headers.ContentLength);
            await HashHelpers.AssertDeterministicBodyAsync(response, seed: 11, length, Timeout);
        }

        // The same response parsed by hand from a raw socket, followed by a keep-alive request.
        using (var connection = await RawHttpConnection.ConnectAsync(server.EndPoint))
        {
            await connection.SendAsync($"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\nGET /download?seed=3&length=10&chunk=4&known=0 HTTP/1.1\r\nHost: localhost\r\n\r\n");
            RawHttpResponse response = await connection.ReadResponseAsync().WaitAsync(Timeout);
            Assert.Equal(200, response.StatusCode);
            Assert.True(response.WasChunked);
            Assert.Equal(DeterministicData.Sha256Hex(11, length), Convert.ToHexStringLower(SHA256.HashData(response.Body)));
            RawHttpResponse small = await connection.ReadResponseAsync().WaitAsync(Timeout);
            Assert.True(small.WasChunked);
            Assert.Equal(DeterministicData.Create(3, 10), small.Body);
        }

        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task LargeUploadAndDownloadOnConcurrentConnections(string transport)
    {
        await using var server = await TestServer.StartAsync(transport, app =>
            app.MapPost("/echo", async (HttpContext context) =>
            {
                // Streams the request body straight back, so both directions are busy at once.
                context.Response.ContentLength = context.Request.ContentLength;
                await context.Request.BodyReader.CopyToAsync(context.Response.BodyWriter, context.RequestAborted);
            }));

        const int length = 2 * 1024 * 1024;
        using (var client = server.CreateClient())
        {
            Task[] tasks = Enumerable.Range(0, 8).Select(async i =>
            {
                using var content = new DeterministicContent((ulong)(1000 + i), length, writeSize: 32 * 1024, knownLength: true);
                using HttpResponseMessage response = await client.PostAsync("/echo", content, CancellationToken.None);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                await HashHelpers.AssertDeterministicBodyAsync(response, (ulong)(1000 + i), length);
            }).ToArray();
            await Task.WhenAll(tasks).WaitAsync(Timeout);
        }

        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }
    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task StreamedResponseFlushesReachTheClientBeforeTheResponseEnds(string transport)
    {
        // Each chunk is written only after the client has acknowledged the previous one, so any flush
        // the transport held back (instead of sending) would deadlock and time out.
        const int rounds = 30;
        var acks = Enumerable.Range(0, rounds).Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
        await using var server = await TestServer.StartAsync(transport, app =>
            app.MapGet("/stream", async (HttpContext context) =>
            {
                for (int i = 0; i < rounds; i++)
                {
                    await context.Response.WriteAsync($"chunk {i:D3}\n", context.RequestAborted);
                    await context.Response.Body.FlushAsync(context.RequestAborted);
                    await acks[i].Task.WaitAsync(Timeout, context.RequestAborted);
                }
            }));

        using (var client = server.CreateClient())
        {
            using HttpResponseMessage response = await client.GetAsync("/stream", HttpCompletionOption.ResponseHeadersRead).WaitAsync(Timeout);
            await using Stream stream = await response.Content.ReadAsStreamAsync();
            await stream.ExpectMessagesThenEndAsync(rounds, i => $"chunk {i:D3}\n", i => acks[i].SetResult(), Timeout);
        }

        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task ExpectContinueUploadIsAnsweredWith100ThenTheResult(string transport)
    {
        await using var server = await TestServer.StartAsync(transport, MapBodyEndpoints);

        using (var connection = await RawHttpConnection.ConnectAsync(server.EndPoint))
        {
            byte[] body = DeterministicData.Create(17, 200_000);
            await connection.SendAsync($"POST /hash HTTP/1.1\r\nHost: localhost\r\nContent-Length: {body.Length}\r\nExpect: 100-continue\r\n\r\n");
            // The body is sent only once the server asks for it.
            RawHttpResponse interim = await connection.ReadResponseAsync().WaitAsync(Timeout);
            Assert.Equal(100, interim.StatusCode);
            await connection.SendAsync(body);
            RawHttpResponse final = await connection.ReadResponseAsync().WaitAsync(Timeout);
            Assert.Equal(200, final.StatusCode);
            Assert.Equal($"{Convert.ToHexStringLower(SHA256.HashData(body))} {body.Length} -", final.BodyText);
        }

        using (var client = server.CreateClient())
        {
            client.DefaultRequestHeaders.ExpectContinue = true;
            using var content = new DeterministicContent(18, 1_000_000, writeSize: 65536, knownLength: true);
            using HttpResponseMessage response = await client.PostAsync("/hash", content).WaitAsync(Timeout);
            Assert.Equal($"{DeterministicData.Sha256Hex(18, 1_000_000)} 1000000 -", await response.Content.ReadAsStringAsync());
        }

        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task PipelinedRequestsWithLargeResponsesAreAnsweredInOrder(string transport)
    {
        // 40 pipelined requests whose 64 KiB responses far exceed the write buffer, so the server must
        // wait for the client to drain while more requests sit unread in the connection.
        await using var server = await TestServer.StartAsync(transport, MapBodyEndpoints);
        const int count = 40;
        const int length = 64 * 1024 + 1;
        using (var connection = await RawHttpConnection.ConnectAsync(server.EndPoint))
        {
            await connection.SendPipelinedGetsAsync(count, i => $"/download?seed={i}&length={length}&chunk=8000&known={(i % 2 == 0 ? 1 : 0)}");
            await connection.ReadResponsesAsync(count, Timeout, (i, response) =>
            {
                Assert.Equal(200, response.StatusCode);
                Assert.Equal(i % 2 != 0, response.WasChunked);
                Assert.Equal(DeterministicData.Create((ulong)i, length), response.Body);
            });
        }

        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task InlineSchedulingServesPipelinedAndLargeBodies(string transport)
    {
        // The epoll transport's UnsafePreferInlineScheduling runs Kestrel on the loop thread; Sockets
        // runs with its defaults as the reference.
        await using var server = await TestServer.StartAsync(transport, MapBodyEndpoints, new TestServerOptions
        {
            ConfigureEpoll = o => o.UnsafePreferInlineScheduling = true,
        });

        using (var connection = await RawHttpConnection.ConnectAsync(server.EndPoint))
        {
            await connection.SendPipelinedGetsAsync(50, i => $"/download?seed={i + 1}&length={i * 100}&chunk=333&known=1");
            await connection.ReadResponsesAsync(50, Timeout, (i, response) =>
                Assert.Equal(DeterministicData.Create((ulong)i + 1, i * 100), response.Body));
        }

        const int length = 4 * 1024 * 1024;
        using (var client = server.CreateClient())
        {
            using (var content = new DeterministicContent(61, length, writeSize: 30_000, knownLength: false))
            using (HttpResponseMessage response = await client.PostAsync("/hash", content).WaitAsync(Timeout))
            {
                Assert.Equal($"{DeterministicData.Sha256Hex(61, length)} {length} chunked", await response.Content.ReadAsStringAsync());
            }
            using (HttpResponseMessage response = await client.GetAsync($"/download?seed=62&length={length}&chunk=20000&known=1", HttpCompletionOption.ResponseHeadersRead).WaitAsync(Timeout))
            {
                await HashHelpers.AssertDeterministicBodyAsync(response, seed: 62, length, Timeout);
            }
        }

        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }
}
