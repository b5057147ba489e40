using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Xunit;

namespace EpollTransport.Perf.Tests;

/// <summary>
/// echo_load's upload mode, which drives the upload scenarios, against a plain Kestrel server that
/// answers POST /upload with the body's length as DemoWeb does (the client is what is tested here).
/// </summary>
public sealed class EchoLoadUploadTests
{
    private const long Size = 3 * 1024 * 1024;

    [Fact]
    public async Task UploadsRepeatOnOneConnectionUntilTheTimeIsUpAndEveryOneCounts()
    {
        long requests = 0, bytes = 0;
        var connections = new HashSet<string>();
        await using WebApplication app = await StartAsync(async context =>
        {
            long received = await CountAsync(context);
            Interlocked.Increment(ref requests);
            Interlocked.Add(ref bytes, received);
            lock (connections)
            {
                connections.Add(context.Connection.Id);
            }
            await AnswerAsync(context, received);
        });

        Dictionary<string, double> summary = await UploadAsync(TestServer.Port(app), connections: 1, seconds: 1);

        string shown = string.Join(' ', summary.Select(kv => $"{kv.Key}={kv.Value}"));
        Assert.True(summary["messages"] >= 1, shown);
        // Every upload counts, the one under way when the time was up too, so client and server agree.
        Assert.Equal(Interlocked.Read(ref requests), (long)summary["messages"]);
        Assert.Equal(Interlocked.Read(ref bytes), (long)summary["bytes"]);
        Assert.Equal(summary["messages"] * Size, summary["bytes"]);
        Assert.Single(connections);
        Assert.True(summary["mib_per_sec"] > 0, shown);
        Assert.True(summary["p99_us"] >= summary["p50_us"], shown);
    }

    [Fact]
    public async Task AServerThatCountsWrongFailsTheRunWithBothCounts()
    {
        await using WebApplication app = await StartAsync(async context => await AnswerAsync(context, await CountAsync(context) - 1));

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => UploadAsync(TestServer.Port(app), connections: 1, seconds: 1));

        Assert.Contains($"the server counted {Size - 1} bytes, not {Size}", error.Message);
    }

    [Fact]
    public async Task UploadsTakeOneConnection()
    {
        await using WebApplication app = await StartAsync(async context => await AnswerAsync(context, await CountAsync(context)));

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => UploadAsync(TestServer.Port(app), connections: 2, seconds: 1));

        Assert.Contains("upload mode uploads on one connection", error.Message);
    }

    private static async Task<Dictionary<string, double>> UploadAsync(int port, int connections, int seconds)
    {
        string binary = await NativeBuilds.EchoLoadAsync();
        return await EchoClient.RunAsync(port, "upload", connections, seconds, threads: 1, TimeSpan.FromSeconds(60), CancellationToken.None, binary: binary, size: Size);
    }

    private static async Task<long> CountAsync(HttpContext context)
    {
        var buffer = new byte[64 * 1024];
        long total = 0;
        for (int n; (n = await context.Request.Body.ReadAsync(buffer)) > 0;)
        {
            total += n;
        }
        return total;
    }

    private static Task AnswerAsync(HttpContext context, long count)
    {
        // With a Content-Length, as DemoWeb answers: the client reads responses by it.
        string text = count.ToString(CultureInfo.InvariantCulture);
        context.Response.ContentType = "text/plain";
        context.Response.ContentLength = text.Length;
        return context.Response.WriteAsync(text);
    }

    private static Task<WebApplication> StartAsync(RequestDelegate upload) => TestServer.StartAsync(app => app.MapPost("/upload", upload));
}
