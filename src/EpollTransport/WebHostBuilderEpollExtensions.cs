using EpollTransport;
using EpollTransport.Diagnostics;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

// The extension lives beside UseSockets() so that it is found without an extra using.
namespace Microsoft.AspNetCore.Hosting;

/// <summary>Registers the epoll transport with Kestrel.</summary>
public static class WebHostBuilderEpollExtensions
{
    /// <summary>
    /// Serves Kestrel's connections from the epoll transport. On an operating system other than Linux
    /// the Sockets transport stays in place and this is logged once at start-up.
    /// </summary>
    public static IWebHostBuilder UseEpollTransport(this IWebHostBuilder hostBuilder)
        => hostBuilder.UseEpollTransport(static _ => { });

    /// <summary>
    /// Serves Kestrel's connections from the epoll transport, configured by <paramref name="configureOptions"/>.
    /// On an operating system other than Linux the Sockets transport stays in place and this is logged once.
    /// </summary>
    public static IWebHostBuilder UseEpollTransport(this IWebHostBuilder hostBuilder, Action<EpollTransportOptions> configureOptions)
    {
        ArgumentNullException.ThrowIfNull(hostBuilder);
        ArgumentNullException.ThrowIfNull(configureOptions);

        return hostBuilder.ConfigureServices(services =>
        {
            services.Configure(configureOptions);
            if (!EpollTransportFactory.IsSupported)
            {
                if (!services.Any(d => d.ImplementationType == typeof(UnsupportedPlatformNotice)))
                {
                    services.AddSingleton<IHostedService, UnsupportedPlatformNotice>();
                }
                return;
            }

            // AddSingleton, not TryAdd: UseKestrel has already registered the Sockets factory, and
            // Kestrel tries the factory registered last first.
            if (!services.Any(d => d.ServiceType == typeof(IConnectionListenerFactory) && d.ImplementationType == typeof(EpollTransportFactory)))
            {
                services.AddSingleton<IConnectionListenerFactory, EpollTransportFactory>();
            }
        });
    }
}
