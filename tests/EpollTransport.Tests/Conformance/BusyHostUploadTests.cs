using System.Buffers;
using System.Net;
using System.Security.Cryptography;
using EpollTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Xunit;

namespace EpollTransport.Tests.Conformance;

/// <summary>
/// Kestrel's own request-buffering test, on a busy host: a large upload through a transport read buffer
/// far smaller than the body, so the transport pauses and resumes reading after almost every read,
/// while spinning threads keep every core busy. Every byte must arrive, in order, on every transport.
/// Correctness only, with a generous bound: how fast belongs to perf/ (busy-neighbour upload rows).
/// In the serial collection, since the spinners would slow every test running beside them.
/// </summary>
[Collection("Serial leak checks")]
public class BusyHostUploadTests
{
    private const int UploadBytes = 32 * 1024 * 1024;
    private const int ChunkBytes = 64 * 1024;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(90);

    public static TheoryData<string, long> TransportsAndReadBuffers()
    {
        var data = new TheoryData<string, long>();
        foreach (string transport in new[] { Transports.Sockets, Transports.Epoll, Transports.EpollSingleLoop, Transports.EpollInline, Transports.EpollUnsafeInline })
        {
            // 64 bytes: smaller than one read, so every read ends in a pause. 64 KiB: a pause every few reads.
            data.Add(transport, 64);
            data.Add(transport, 64 * 1024);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(TransportsAndReadBuffers))]
    public async Task AnUploadThroughATinyReadBufferArrivesWholeWhileEveryCoreIsBusy(string transport, long maxReadBufferSize)
    {
        await using TestServer server = await TestServer.StartAsync(transport, app => app.MapPost("/upload", async (HttpContext context) =>
        {
            // Reads as an application does, in whatever pieces the transport delivers, hashing as it goes.
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long total = 0;
            byte[] buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
            try
            {
                int read;
                while ((read = await context.Request.Body.ReadAsync(buffer)) > 0)
                {
                    hash.AppendData(buffer, 0, read);
                    total += read;
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
            return $"{total}:{Convert.ToHexString(hash.GetHashAndReset())}";
        }), new TestServerOptions
        {
            MaxReadBufferSize = maxReadBufferSize,
            ConfigureKestrel = kestrel =>
            {
                kestrel.Limits.MaxRequestBodySize = null;
                kestrel.Listen(IPAddress.Loopback, 0);
            },
        });
        using HttpClient client = server.CreateClient();

        using var expected = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] chunk = new byte[ChunkBytes];
        var content = new PushContent(async stream =>
        {
            var random = new Random(17);
            for (int sent = 0; sent < UploadBytes; sent += ChunkBytes)
            {
                random.NextBytes(chunk);
                expected.AppendData(chunk);
                await stream.WriteAsync(chunk);
            }
        });

        string reply;
        using (new BusyNeighbours())
        {
            using HttpResponseMessage response = await client.PostAsync("upload", content).WaitAsync(Bound);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            reply = await response.Content.ReadAsStringAsync();
        }
        Assert.Equal($"{UploadBytes}:{Convert.ToHexString(expected.GetHashAndReset())}", reply);
    }

    /// <summary>A body written by a callback, chunk by chunk, of unknown length (chunked transfer encoding).</summary>
    private sealed class PushContent(Func<Stream, Task> write) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => write(stream);

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
