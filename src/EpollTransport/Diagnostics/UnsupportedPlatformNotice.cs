using System.Runtime.InteropServices;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace EpollTransport.Diagnostics;

/// <summary>Logs once, at start-up, that UseEpollTransport() left the Sockets transport in place.</summary>
internal sealed class UnsupportedPlatformNotice(ILoggerFactory loggerFactory) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        EpollTransportLog.UnsupportedPlatform(loggerFactory.CreateLogger(EpollTransportLog.Category), RuntimeInformation.OSDescription);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
