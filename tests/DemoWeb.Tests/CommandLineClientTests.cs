using Xunit;

namespace DemoWeb.Tests;

/// <summary>curl and h2load against the running app, as the README tells users to do.</summary>
public class CommandLineClientTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task CurlSpeaksHttp2PriorKnowledgeAndHttp2OverTls()
    {
        await using var server = await DemoServer.StartAsync();
        string curl = Tools.Require("curl");

        var h2c = await Tools.RunAsync(curl, ["-sS", "--http2-prior-knowledge", "-w", "\n%{http_version}", new Uri(server.H2c, "/plaintext").ToString()], Timeout);
        Assert.True(h2c.ExitCode == 0, h2c.Output);
        Assert.Equal("Hello, World!\n2", h2c.Output.Trim());

        var tls = await Tools.RunAsync(curl, ["-sS", "-k", "--http2", "-w", "\n%{http_version}", new Uri(server.Https, "/json").ToString()], Timeout);
        Assert.True(tls.ExitCode == 0, tls.Output);
        Assert.Equal("{\"message\":\"Hello, World!\"}\n2", tls.Output.Trim());
    }

    [Fact]
    public async Task CurlPostsToTheEchoOverHttp11AndGetsTheBodyBack()
    {
        await using var server = await DemoServer.StartAsync();
        string curl = Tools.Require("curl");

        var echo = await Tools.RunAsync(curl, ["-sS", "--http1.1", "--data-binary", "epoll says hi", "-H", "Content-Type: text/plain", new Uri(server.Http, "/echo").ToString()], Timeout);

        Assert.True(echo.ExitCode == 0, echo.Output);
        Assert.Equal("epoll says hi", echo.Output);
    }

    [Fact]
    public async Task H2loadCompletesEveryRequestOnTheH2cPort()
    {
        await using var server = await DemoServer.StartAsync();
        string h2load = Tools.Require("h2load");

        var run = await Tools.RunAsync(h2load, ["-n", "2000", "-c", "4", "-m", "16", new Uri(server.H2c, "/plaintext").ToString()], Timeout);

        Assert.True(run.ExitCode == 0, run.Output);
        Assert.Contains("2000 succeeded, 0 failed, 0 errored", run.Output);
    }
}
