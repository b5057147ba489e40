using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Xunit;

namespace EpollTransport.Perf.Tests;

/// <summary>
/// echo_load's pipeline mode, which gives the pipelined scenario its p99, against a plain Kestrel
/// server (the client is what is tested here, so the transport is the default one).
/// </summary>
public sealed class EchoLoadPipelineTests
{
    [Fact]
    public async Task EveryResponseOfEveryBatchIsCountedAndTimed()
    {
        int served = 0;
        await using WebApplication app = await StartAsync(context =>
        {
            Interlocked.Increment(ref served);
            context.Response.ContentType = "text/plain";
            context.Response.ContentLength = 13; // the client reads bodies by Content-Length, as DemoWeb sends them
            return context.Response.WriteAsync("Hello, World!");
        });

        // The client counts only responses inside its window; a cold server's first batch (JIT, and the
        // other test assemblies running alongside) must not be what decides whether any are counted.
        using (var http = new HttpClient())
        {
            Assert.Equal("Hello, World!", await http.GetStringAsync($"http://127.0.0.1:{TestServer.Port(app)}/plaintext"));
        }

        Dictionary<string, double> summary = await RunPipelineAsync(TestServer.Port(app), connections: 4, depth: 16, seconds: 3);

        string shown = string.Join(' ', summary.Select(kv => $"{kv.Key}={kv.Value}"));
        Assert.True(summary["messages"] >= 16, shown);
        // Responses after the window are read but not counted, so the server answered at least as many.
        Assert.True(Volatile.Read(ref served) >= summary["messages"], shown);
        Assert.True(summary["p99_us"] >= summary["p50_us"], shown);
        Assert.True(summary["p99_us"] < 1_000_000, shown);
    }

    [Fact]
    public async Task AResponseOtherThan200FailsTheRunWithWhatCameBack()
    {
        await using WebApplication app = await StartAsync(context =>
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return Task.CompletedTask;
        });

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => RunPipelineAsync(TestServer.Port(app), connections: 2, depth: 4, seconds: 1));

        Assert.Contains("expected HTTP/1.1 200, got: HTTP/1.1 503", error.Message);
    }

    private static async Task<Dictionary<string, double>> RunPipelineAsync(int port, int connections, int depth, int seconds)
    {
        string binary = await NativeBuilds.EchoLoadAsync();
        return await EchoClient.RunAsync(port, "pipeline", connections, seconds, threads: 1, TimeSpan.FromSeconds(60), CancellationToken.None, depth, binary);
    }

    private static Task<WebApplication> StartAsync(RequestDelegate plaintext) => TestServer.StartAsync(app => app.MapGet("/plaintext", plaintext));
}
