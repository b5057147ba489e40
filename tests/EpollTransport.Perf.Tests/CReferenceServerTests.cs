using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Xunit;

namespace EpollTransport.Perf.Tests;

/// <summary>
/// The C reference server (perf/c-reference) that the harness runs beside DemoWeb: it must do the same
/// exchange as DemoWeb's GET /plaintext, or its ratio says nothing, and it must answer every request of a
/// pipelined burst, including the ones the socket could not take at once.
/// </summary>
public sealed partial class CReferenceServerTests
{
    private static readonly byte[] s_request = "GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"u8.ToArray();

    [Theory]
    [InlineData("0")]
    [InlineData("50")]
    public async Task ItsResponseIsKestrelsPlaintextResponse(string pollMicroseconds)
    {
        await using WebApplication kestrel = await TestServer.StartAsync(app => app.MapGet("/plaintext", static context =>
        {
            // As DemoWeb's /plaintext answers.
            context.Response.ContentType = "text/plain";
            context.Response.ContentLength = 13;
            return context.Response.WriteAsync("Hello, World!");
        }));
        await using CServer server = await CServer.StartAsync(pollMicroseconds);

        string expected = WithoutDate(await ExchangeAsync(TestServer.Port(kestrel), requests: 1));
        string actual = WithoutDate(await ExchangeAsync(server.Port, requests: 1));

        Assert.Equal(expected, actual);
        Assert.Contains("Hello, World!", actual, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("50")]
    public async Task EveryRequestOfAPipelinedBurstIsAnswered(string pollMicroseconds)
    {
        await using CServer server = await CServer.StartAsync(pollMicroseconds);

        // 20,000 requests (880 KB) answered with about 2.5 MB: more than loopback's socket buffers hold, so
        // part of the output waits for EPOLLOUT. The first request goes a byte at a time, so the blank line
        // that ends it is split across writes.
        string responses = await ExchangeAsync(server.Port, requests: 20_000, firstBytewise: true);

        Assert.Equal(20_000, Regex.Count(responses, "HTTP/1.1 200 OK\r\n"));
        Assert.Equal(20_000, Regex.Count(responses, "\r\n\r\nHello, World!"));
    }

    private static string WithoutDate(string response) => DateHeader().Replace(response, "Date: (date)\r\n");

    [GeneratedRegex("Date: [^\r]*\r\n")]
    private static partial Regex DateHeader();

    /// <summary>Sends <paramref name="requests"/> requests while reading, and returns every byte of the responses.</summary>
    private static async Task<string> ExchangeAsync(int port, int requests, bool firstBytewise = false)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync("127.0.0.1", port);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        Task writing = Task.Run(async () =>
        {
            int from = 0;
            if (firstBytewise)
            {
                for (; from < s_request.Length; from++)
                {
                    await socket.SendAsync(s_request.AsMemory(from, 1), SocketFlags.None, timeout.Token);
                }
            }
            byte[] rest = new byte[(s_request.Length * requests) - from];
            for (int i = 0; i < rest.Length; i++)
            {
                rest[i] = s_request[(from + i) % s_request.Length];
            }
            for (int sent = 0; sent < rest.Length;)
            {
                sent += await socket.SendAsync(rest.AsMemory(sent), SocketFlags.None, timeout.Token);
            }
        });

        var received = new StringBuilder();
        byte[] buffer = new byte[65536];
        int bodies = 0;
        while (bodies < requests)
        {
            int read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            Assert.True(read > 0, string.Create(CultureInfo.InvariantCulture, $"the server closed after {bodies} of {requests} responses"));
            received.Append(Encoding.ASCII.GetString(buffer, 0, read));
            // A body ends in '!', and no header has one: a count per read, not a scan of all so far.
            bodies += buffer.AsSpan(0, read).Count((byte)'!');
        }
        await writing;
        return received.ToString();
    }

    /// <summary>The C server built from the repository's source, on a free port; killed on dispose.</summary>
    private sealed class CServer : IAsyncDisposable
    {
        private readonly Process _process;

        private CServer(Process process, int port) => (_process, Port) = (process, port);

        public int Port { get; }

        public static async Task<CServer> StartAsync(string pollMicroseconds)
        {
            string binary = await NativeBuilds.CReferenceServerAsync();
            Process process = Processes.StartOrExplain(Processes.RedirectedStart(binary, ["0", pollMicroseconds]));
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            string? line = await process.StandardOutput.ReadLineAsync(timeout.Token);
            const string Prefix = "DemoWeb http: ";
            Assert.NotNull(line);
            Assert.StartsWith(Prefix, line, StringComparison.Ordinal);
            return new CServer(process, new Uri(line[Prefix.Length..]).Port);
        }

        public async ValueTask DisposeAsync()
        {
            _process.Kill();
            await _process.WaitForExitAsync();
            _process.Dispose();
        }
    }
}
