using System.Security.Cryptography.X509Certificates;
using EpollTransport;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Options;

namespace DemoWeb;

/// <summary>Builds DemoWeb from its arguments; Program runs it, tests start it in-process.</summary>
public static class DemoApp
{
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? customize = null)
    {
        string[] normalized = CommandLineSwitches.Normalize(args);
        WebApplicationBuilder builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = normalized,
            ContentRootPath = ContentRootChosenByUser(normalized) ? null : AppContext.BaseDirectory,
        });
        DemoSettings settings = DemoSettings.From(builder.Configuration);
        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton<TransportStatistics>();
        builder.Services.AddGrpc();
        if (settings.DashboardHub)
        {
            // The source-generated context first, so the hub's payload is serialized like /stats (camelCase, same metadata).
            builder.Services.AddSignalR().AddJsonProtocol(options =>
                options.PayloadSerializerOptions.TypeInfoResolverChain.Insert(0, DemoJsonContext.Default));
            builder.Services.AddSingleton<StatsHubClients>();
            builder.Services.AddHostedService<StatsBroadcaster>();
        }

        if (settings.IsEpoll)
        {
            // appsettings' "EpollTransport" section first, so the command-line switches win.
            builder.Services.Configure<EpollTransportOptions>(builder.Configuration.GetSection("EpollTransport"));
            builder.WebHost.UseEpollTransport(options =>
            {
                if (settings.Threads is int threads)
                {
                    options.ThreadCount = threads;
                }
                if (settings.Scheduling is ApplicationSchedulingMode scheduling)
                {
                    options.ApplicationSchedulingMode = scheduling;
                }
                if (settings.Inline)
                {
                    options.UnsafePreferInlineScheduling = true;
                }
                if (settings.MaxReadBuffer is long maxReadBuffer)
                {
                    options.MaxReadBufferSize = maxReadBuffer;
                }
            });
        }
        else
        {
            builder.WebHost.UseSockets(options =>
            {
                if (settings.Threads is int threads)
                {
                    options.IOQueueCount = threads;
                }
                options.UnsafePreferInlineScheduling = settings.Inline;
                if (settings.MaxReadBuffer is long maxReadBuffer)
                {
                    options.MaxReadBufferSize = maxReadBuffer;
                }
            });
        }

        bool generated = false;
        X509Certificate2? certificate = settings.Https ? LoadCertificate(builder.Configuration, out generated) : null;
        var endpoints = new DemoEndpoints();
        builder.Services.AddSingleton(endpoints);
        builder.WebHost.ConfigureKestrel(kestrel => endpoints.Configure(kestrel, settings, certificate));
        customize?.Invoke(builder);

        WebApplication app = builder.Build();
        app.UseWebSockets();
        DashboardAssets.Map(app);
        HttpEndpoints.Map(app, settings);
        // gRPC needs HTTP/2: the h2c port (prior knowledge) and the HTTPS port (ALPN) serve it.
        app.MapGrpcService<EchoGrpcService>();
        if (settings.DashboardHub)
        {
            app.MapHub<StatsHub>(StatsHub.Path);
        }
        app.Lifetime.ApplicationStarted.Register(() => PrintBanner(app, settings, generated));
        return app;

        static X509Certificate2 LoadCertificate(IConfiguration configuration, out bool generated)
        {
            generated = configuration["cert-path"] is not { Length: > 0 };
            return generated
                ? SelfSignedCertificate.CreateForLocalhost()
                : X509CertificateLoader.LoadPkcs12FromFile(configuration["cert-path"]!, configuration["cert-password"]);
        }
    }

    /// <summary>
    /// Whether the user named a content root (`--contentRoot`, or the ASPNETCORE_/DOTNET_CONTENTROOT
    /// variable), read the way the host reads it. Otherwise DemoWeb takes its own directory: a systemd
    /// unit or a container starts `dotnet /app/DemoWeb.dll` from elsewhere, and the working directory
    /// (ASP.NET Core's default) would lose appsettings.json and with it the log levels that keep
    /// per-request lines off the console. A content root given in WebApplicationOptions would override
    /// the user's, so it is given only when the user gave none.
    /// </summary>
    private static bool ContentRootChosenByUser(string[] args)
    {
        IConfiguration given = new ConfigurationBuilder()
            .AddEnvironmentVariables("DOTNET_")
            .AddEnvironmentVariables("ASPNETCORE_")
            .AddCommandLine(args)
            .Build();
        return !string.IsNullOrEmpty(given[HostDefaults.ContentRootKey]);
    }

    private static string EpollScheduling(EpollTransportOptions options) => options switch
    {
        { UnsafePreferInlineScheduling: true } => "unsafe inline scheduling",
        { ApplicationSchedulingMode: ApplicationSchedulingMode.ThreadPool, InlineWhenQuiet: true } => "thread-pool scheduling, inline when quiet",
        { ApplicationSchedulingMode: ApplicationSchedulingMode.ThreadPool } => "thread-pool scheduling",
        _ => $"inline scheduling, {options.InlineStallThreshold.TotalMilliseconds:0.#} ms stall threshold",
    };

    private static string Loops(int count) => count == 1 ? "1 loop" : $"{count} loops";

    private static void PrintBanner(WebApplication app, DemoSettings settings, bool generatedCertificate)
    {
        // Kestrel uses the factory registered last, so that is the transport actually serving.
        var factory = app.Services.GetServices<IConnectionListenerFactory>().LastOrDefault();
        string transport = factory is EpollTransportFactory epoll
            ? $"epoll ({Loops(epoll.GetLoopCounters().Count)}, {EpollScheduling(app.Services.GetRequiredService<IOptions<EpollTransportOptions>>().Value)})"
            : $"sockets ({app.Services.GetRequiredService<IOptions<SocketTransportOptions>>().Value.IOQueueCount} IOQueues{(settings.Inline ? ", inline scheduling" : string.Empty)})";
        Console.WriteLine($"DemoWeb transport: {transport}");
        if (generatedCertificate)
        {
            Console.WriteLine("DemoWeb generated a self-signed certificate for localhost in memory (pass --cert-path to use your own).");
        }
        foreach (var (role, address) in app.Services.GetRequiredService<DemoEndpoints>().Describe())
        {
            Console.WriteLine($"DemoWeb {role}: {address}");
        }
        // Last, so whoever reads the banner (people, scripts, tests) knows it is complete.
        Console.WriteLine("DemoWeb is ready; press Ctrl+C to stop.");
        Console.Out.Flush();
    }
}
