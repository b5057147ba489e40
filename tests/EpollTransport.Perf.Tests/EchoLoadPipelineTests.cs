using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
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
            Assert.Equal("Hello, World!", await http.GetStringAsync($"http://127.0.0.1:{Port(app)}/plaintext"));
        }

        Dictionary<string, double> summary = await RunPipelineAsync(Port(app), connections: 4, depth: 16, seconds: 3);

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

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => RunPipelineAsync(Port(app), connections: 2, depth: 4, seconds: 1));

        Assert.Contains("expected HTTP/1.1 200, got: HTTP/1.1 503", error.Message);
    }

    private static async Task<Dictionary<string, double>> RunPipelineAsync(int port, int connections, int depth, int seconds)
    {
        string binary = await BuildEchoLoadAsync();
        return await EchoClient.RunAsync(port, "pipeline", connections, seconds, threads: 1, TimeSpan.FromSeconds(60), CancellationToken.None, depth, binary);
    }

    private static async Task<WebApplication> StartAsync(RequestDelegate plaintext)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        WebApplication app = builder.Build();
        app.MapGet("/plaintext", plaintext);
        await app.StartAsync();
        return app;
    }

    private static int Port(WebApplication app) =>
        new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single()).Port;

    private static readonly SemaphoreSlim s_buildGate = new(1, 1);

    /// <summary>Builds the client from the repository's source into the test output, once per source change.</summary>
    private static async Task<string> BuildEchoLoadAsync()
    {
        string root = RepositoryRoot();
        string binary = Path.Combine(AppContext.BaseDirectory, "echo_load");
        await s_buildGate.WaitAsync();
        try
        {
            await NativeTool.EnsureBuiltAsync(Path.Combine(root, EchoClient.Source), binary, CancellationToken.None);
        }
        finally
        {
            s_buildGate.Release();
        }
        return binary;
    }

    private static string RepositoryRoot()
    {
        for (DirectoryInfo? directory = new(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "EpollTransport.sln")))
            {
                return directory.FullName;
            }
        }
        throw new InvalidOperationException($"No EpollTransport.sln above {AppContext.BaseDirectory}.");
    }
}
