using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using EpollTransport.Diagnostics;
using EpollTransport.Listening;
using EpollTransport.Loops;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EpollTransport;

/// <summary>
/// Kestrel's entry point to the epoll transport: binds IP, Unix domain socket and inherited-handle
/// endpoints and serves them from a shared set of epoll loops.
/// </summary>
public sealed class EpollTransportFactory : IConnectionListenerFactory, IConnectionListenerFactorySelector, IDisposable
{
    private readonly EpollTransportOptions _options;
    private readonly IMemoryPoolFactory<byte>? _memoryPoolFactory;
    private readonly ILogger _logger;
    private readonly EpollTransportMetrics _metrics;
    private readonly object _gate = new();
    private EpollLoopGroup? _group;
    private int _groupReferences;

    /// <summary>Creates the factory; Kestrel's DI container supplies every argument.</summary>
    /// <param name="options">The transport options.</param>
    /// <param name="loggerFactory">Creates the <c>EpollTransport</c> logger.</param>
    /// <param name="memoryPoolFactory">Kestrel's pinned block pool factory; each loop creates its own pool from it.</param>
    /// <param name="meterFactory">Creates the <c>EpollTransport</c> meter; a private meter is used when absent.</param>
    public EpollTransportFactory(
        IOptions<EpollTransportOptions> options,
        ILoggerFactory loggerFactory,
        IMemoryPoolFactory<byte>? memoryPoolFactory = null,
        IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        _options = options.Value;
        _memoryPoolFactory = memoryPoolFactory;
        _logger = loggerFactory.CreateLogger(EpollTransportLog.Category);
        _metrics = new EpollTransportMetrics(meterFactory, GetLoopCounters);
    }

    /// <summary>Whether this operating system can run the transport (Linux only).</summary>
    public static bool IsSupported => OperatingSystem.IsLinux();

    /// <summary>The current counters of every running loop (empty while nothing is bound).</summary>
    public IReadOnlyList<LoopCountersSnapshot> GetLoopCounters()
    {
        EpollLoopGroup? group = Volatile.Read(ref _group);
        return group is null ? [] : group.Snapshot().ToArray();
    }

    /// <summary>The running loops, for tests.</summary>
    internal EpollLoopGroup? CurrentLoopGroup => Volatile.Read(ref _group);

    /// <summary>
    /// True for IPv4 and IPv6 endpoints, Unix domain sockets and inherited socket handles; anything else
    /// is left to another transport (Kestrel tries the next registered factory).
    /// </summary>
    public bool CanBind(EndPoint endpoint) => endpoint switch
    {
        IPEndPoint ip => ip.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6,
        UnixDomainSocketEndPoint => true,
        FileHandleEndPoint handle => handle.FileHandleType is FileHandleType.Auto or FileHandleType.Tcp,
        _ => false,
    };

    /// <inheritdoc />
    public async ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        if (!IsSupported)
        {
            throw new PlatformNotSupportedException("The epoll transport runs only on Linux.");
        }
        if (!CanBind(endpoint))
        {
            throw new NotSupportedException($"The epoll transport cannot bind {endpoint} ({endpoint.GetType().Name}).");
        }

        EpollLoopGroup group = AcquireGroup();
        try
        {
            return await EpollConnectionListener.BindAsync(group, endpoint, () => ReleaseGroupAsync(group), _logger).ConfigureAwait(false);
        }
        catch
        {
            await ReleaseGroupAsync(group).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Releases the metrics instruments. Running loops stop with their last listener.</summary>
    public void Dispose() => _metrics.Dispose();

    private EpollLoopGroup AcquireGroup()
    {
        lock (_gate)
        {
            _group ??= new EpollLoopGroup(new TransportSettings(_options), _memoryPoolFactory, _logger);
            _groupReferences++;
            return _group;
        }
    }

    private async ValueTask ReleaseGroupAsync(EpollLoopGroup group)
    {
        lock (_gate)
        {
            if (--_groupReferences > 0 || !ReferenceEquals(_group, group))
            {
                return;
            }
            _group = null;
        }
        await group.StopAsync().ConfigureAwait(false);
    }
}
