using System.Net;
using EpollTransport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace EpollTransport.Tests.Infrastructure;

/// <summary>
/// A real Kestrel server on loopback over the chosen transport, with a counting memory pool and a log
/// recorder. By default it listens on 127.0.0.1 with a dynamic port.
/// </summary>
public sealed class TestServer : IAsyncDisposable
{
    private bool _stopped;

    private TestServer(WebApplication app, CountingMemoryPoolFactory memoryPool, LogRecorder logs)
    {
        App = app;
        MemoryPool = memoryPool;
        Logs = logs;
        Addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.ToArray();
    }

    public WebApplication App { get; }

    public CountingMemoryPoolFactory MemoryPool { get; }

    public LogRecorder Logs { get; }

    public IReadOnlyList<string> Addresses { get; }

    /// <summary>The port of the first bound address.</summary>
    public int Port => new Uri(Addresses[0]).Port;

    public Uri BaseUri => new($"http://127.0.0.1:{Port}/");

    public IPEndPoint EndPoint => new(IPAddress.Loopback, Port);

    public static Task<TestServer> StartAsync(string transport, Action<WebApplication> configureApp, TestServerOptions? options = null)
        => StartCoreAsync(transport, configureApp, options ?? new TestServerOptions());

    /// <summary>A server whose only endpoint runs a raw connection delegate instead of HTTP.</summary>
    public static Task<TestServer> StartConnectionHandlerAsync(string transport, Func<ConnectionContext, Task> handler, TestServerOptions? options = null)
    {
        options ??= new TestServerOptions();
        options.ConfigureKestrel ??= kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Run(handler));
        return StartCoreAsync(transport, _ => { }, options);
    }

    private static async Task<TestServer> StartCoreAsync(string transport, Action<WebApplication> configureApp, TestServerOptions options)
    {
        var memoryPool = new CountingMemoryPoolFactory();
        var logs = new LogRecorder();
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { EnvironmentName = "Testing" });
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Debug);
        builder.Logging.AddProvider(logs);
        Transports.Use(builder.WebHost, transport, options.MaxReadBufferSize, options.MaxWriteBufferSize, options.ConfigureEpoll);
        builder.Services.AddSingleton<IMemoryPoolFactory<byte>>(memoryPool);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = options.ShutdownTimeout);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            if (options.ConfigureKestrel is { } configure)
            {
                configure(kestrel);
            }
            else
            {
                kestrel.Listen(IPAddress.Loopback, 0);
            }
        });
        options.ConfigureServices?.Invoke(builder.Services);

        WebApplication app = builder.Build();
        configureApp(app);
        await app.StartAsync();
        return new TestServer(app, memoryPool, logs);
    }

    public HttpClient CreateClient(Version? version = null)
    {
        var client = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
        {
            BaseAddress = BaseUri,
            Timeout = TimeSpan.FromSeconds(60),
        };
        if (version is not null)
        {
            client.DefaultRequestVersion = version;
            client.DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        }
        return client;
    }

    public async Task StopAsync()
    {
        if (_stopped)
        {
            return;
        }
        _stopped = true;
        await App.StopAsync();
    }

    /// <summary>Stops gracefully (bounded), then checks that every memory pool block came back.</summary>
    public async Task StopAndCheckBlocksReturnedAsync(TimeSpan stopTimeout)
    {
        await StopAsync().WaitAsync(stopTimeout);
        await MemoryPool.WhenAllReturnedAsync(TimeSpan.FromSeconds(10));
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        await App.DisposeAsync();
    }
}

public sealed class TestServerOptions
{
    public Action<KestrelServerOptions>? ConfigureKestrel { get; set; }

    public Action<IServiceCollection>? ConfigureServices { get; set; }

    public Action<EpollTransportOptions>? ConfigureEpoll { get; set; }

    public long? MaxReadBufferSize { get; set; } = 1024 * 1024;

    public long? MaxWriteBufferSize { get; set; } = 64 * 1024;

    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(10);
}
