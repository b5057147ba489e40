using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace DemoWeb.Tests;

/// <summary>DemoWeb started in-process from its own argument parsing, every port dynamic, on loopback.</summary>
public sealed class DemoServer : IAsyncDisposable
{
    private DemoServer(WebApplication app)
    {
        App = app;
        Endpoints = app.Services.GetRequiredService<DemoEndpoints>().Describe().ToDictionary(e => e.Role, e => new Uri(e.Address));
    }

    public WebApplication App { get; }

    /// <summary>Role ("http", "echo", "h2c", "https") → bound address.</summary>
    public IReadOnlyDictionary<string, Uri> Endpoints { get; }

    public Uri Http => Endpoints["http"];

    public Uri H2c => Endpoints["h2c"];

    public Uri Https => Endpoints["https"];

    public IPEndPoint Echo => new(IPAddress.Loopback, Endpoints["echo"].Port);

    public static Task<DemoServer> StartAsync(params string[] extraArgs) => StartAsync(customize: null, extraArgs);

    /// <param name="customize">Lets a test add services (a hub filter, say) before the app is built.</param>
    public static async Task<DemoServer> StartAsync(Action<WebApplicationBuilder>? customize, params string[] extraArgs)
    {
        string[] args = ["--urls", "http://127.0.0.1:0", "--echo-port", "0", "--h2c-port", "0", "--https", "true", "--https-port", "0",
            "--Logging:LogLevel:Default=Warning", .. extraArgs];
        WebApplication app = DemoApp.Build(args, customize);
        await app.StartAsync();
        return new DemoServer(app);
    }

    public HttpClient CreateClient(Uri baseAddress, Version? version = null)
    {
        var handler = new SocketsHttpHandler();
        // The server's certificate is the throw-away one DemoWeb generated in memory.
        handler.SslOptions.RemoteCertificateValidationCallback = (_, _, _, _) => true;
        var client = new HttpClient(handler) { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
        if (version is not null)
        {
            client.DefaultRequestVersion = version;
            client.DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        }
        return client;
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
