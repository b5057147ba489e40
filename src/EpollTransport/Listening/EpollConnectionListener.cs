using System.Net;
using System.Threading.Channels;
using EpollTransport.Connections;
using EpollTransport.Diagnostics;
using EpollTransport.Interop;
using EpollTransport.Loops;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace EpollTransport.Listening;

/// <summary>
/// Kestrel's view of one endpoint. Loops accept and start connections themselves and queue them here;
/// <see cref="AcceptAsync"/> only hands them over.
/// </summary>
internal sealed class EpollConnectionListener : IConnectionListener
{
    private readonly ListenSocket[] _sockets;
    private readonly AcceptRegistration[] _registrations;
    private readonly EpollLoop[] _loops;
    private int _nextLoop;
    private readonly Func<ValueTask> _releaseGroup;
    private readonly ILogger _logger;
    private readonly Channel<EpollConnection> _accepted = Channel.CreateUnbounded<EpollConnection>(new UnboundedChannelOptions
    {
        SingleReader = true,
        SingleWriter = false,
        AllowSynchronousContinuations = false,
    });
    private readonly object _unbindLock = new();
    private Task? _unbindTask;
    private int _disposed;
    private readonly WarningGate _acceptFailureWarnings = new();
    private readonly WarningGate _descriptorLimitWarnings = new();

    private EpollConnectionListener(EpollLoopGroup group, ListenSocket[] sockets, Func<ValueTask> releaseGroup, ILogger logger)
    {
        _sockets = sockets;
        _releaseGroup = releaseGroup;
        _logger = logger;
        EndPoint = sockets[0].EndPoint;
        EpollLoop[] loops = group.Loops;
        _loops = loops;
        _registrations = new AcceptRegistration[loops.Length];
        for (int i = 0; i < loops.Length; i++)
        {
            _registrations[i] = new AcceptRegistration(this, loops[i], sockets[sockets.Length == 1 ? 0 : i], shared: sockets.Length == 1 && loops.Length > 1);
        }
    }

    public EndPoint EndPoint { get; }

    public static async ValueTask<EpollConnectionListener> BindAsync(EpollLoopGroup group, EndPoint endPoint, Func<ValueTask> releaseGroup, ILogger logger)
    {
        ListenSocket[] sockets = CreateSockets(group, endPoint);
        var listener = new EpollConnectionListener(group, sockets, releaseGroup, logger);
        try
        {
            await Task.WhenAll(listener._registrations.Select(r => r.Loop.InvokeAsync(r.Add))).ConfigureAwait(false);
        }
        catch
        {
            await listener.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return listener;
    }

    private static ListenSocket[] CreateSockets(EpollLoopGroup group, EndPoint endPoint)
    {
        TransportSettings settings = group.Settings;
        if (endPoint is FileHandleEndPoint fileHandle)
        {
            return [ListenSocket.Adopt(fileHandle, settings)];
        }
        if (!settings.ReusePort || endPoint is not IPEndPoint || group.Loops.Length == 1)
        {
            return [ListenSocket.Bind(endPoint, settings, reusePort: settings.ReusePort)];
        }

        // One SO_REUSEPORT socket per loop, so the kernel spreads connections over them. The first
        // bind settles the port; the others join that port (binding each to port 0 would give every
        // loop a different port).
        var sockets = new ListenSocket[group.Loops.Length];
        try
        {
            sockets[0] = ListenSocket.Bind(endPoint, settings, reusePort: true);
            var first = (IPEndPoint)sockets[0].EndPoint;
            var samePort = new IPEndPoint(((IPEndPoint)endPoint).Address, first.Port);
            for (int i = 1; i < sockets.Length; i++)
            {
                sockets[i] = ListenSocket.Bind(samePort, settings, reusePort: true);
            }
            return sockets;
        }
        catch
        {
            foreach (ListenSocket? socket in sockets)
            {
                socket?.Dispose();
            }
            throw;
        }
    }

    /// <summary>
    /// A loop accepted a connection. Loop thread. With one shared listening socket, the loop that the
    /// kernel woke would take a whole burst of connections for itself (measured: 69 to 3 across two
    /// loops), so connections are dealt round-robin; the fd changes hands here and the accepting loop
    /// never touches it again. Per-loop SO_REUSEPORT sockets are already balanced by the kernel.
    /// </summary>
    public void OnAccepted(EpollLoop loop, SocketFd fd, EndPoint? local, EndPoint? remote)
    {
        EpollLoop owner = _sockets.Length == 1 && _loops.Length > 1
            ? _loops[(int)((uint)Interlocked.Increment(ref _nextLoop) % (uint)_loops.Length)]
            : loop;
        if (ReferenceEquals(owner, loop))
        {
            StartConnection(loop, fd, local, remote);
        }
        else
        {
            owner.Scheduler.Schedule(s_startOnOwner, new HandOff(this, owner, fd, local, remote));
        }
    }

    private static readonly Action<object?> s_startOnOwner = static state =>
    {
        var handOff = (HandOff)state!;
        if (!handOff.Owner.IsOwnerInTransportCode)
        {
            // The owner loop stopped before it could take the connection (the scheduler ran this on
            // the thread pool): nobody can serve it.
            handOff.Fd.Close();
            return;
        }
        handOff.Listener.StartConnection(handOff.Owner, handOff.Fd, handOff.Local, handOff.Remote);
    };

    private sealed record HandOff(EpollConnectionListener Listener, EpollLoop Owner, SocketFd Fd, EndPoint? Local, EndPoint? Remote);

    /// <summary>Registers and starts a connection on the loop that will own it. Owner loop thread.</summary>
    private void StartConnection(EpollLoop loop, SocketFd fd, EndPoint? local, EndPoint? remote)
    {
        var connection = new EpollConnection(loop, fd, local, remote);
        Errno errno = loop.Register(connection, fd.Value, EpollConnection.EpollEvents);
        if (errno != Errno.None)
        {
            fd.Close();
            ReportAcceptFailure(EndPoint, errno, TimeSpan.Zero);
            return;
        }
        loop.Counters.ConnectionsAccepted++;
        loop.Counters.ConnectionsCurrent++;
        connection.Start();

        if (!_accepted.Writer.TryWrite(connection))
        {
            // Unbound while this one was being accepted: nobody will ever serve it.
            _ = DiscardAsync(connection);
        }
    }

    public void ReportAcceptFailure(EndPoint endPoint, Errno errno, TimeSpan pause)
    {
        // At most one warning per interval, however many loops and retries fail.
        if (_acceptFailureWarnings.TryTakeTurn())
        {
            EpollTransportLog.AcceptFailed(_logger, endPoint.ToString()!, errno.Name, (int)pause.TotalMilliseconds);
        }
    }

    /// <summary>
    /// <paramref name="loop"/> reset connections because the process is within its descriptor
    /// reserve, and pauses accepting. At most one warning per interval for all loops. Loop thread.
    /// </summary>
    public void ReportDescriptorLimit(EpollLoop loop, EndPoint endPoint, DescriptorReserve reserve, TimeSpan pause)
    {
        if (_descriptorLimitWarnings.TryTakeTurn())
        {
            EpollTransportLog.DescriptorLimitReached(_logger, endPoint.ToString()!, DescriptorLimit.OpenCount(),
                reserve.Limit, reserve.Reserve, loop.Counters.ConnectionsRefused, loop.Index, (int)pause.TotalMilliseconds);
        }
    }

    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        ChannelReader<EpollConnection> reader = _accepted.Reader;
        try
        {
            while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                if (reader.TryRead(out EpollConnection? connection))
                {
                    return connection;
                }
            }
        }
        catch (ChannelClosedException)
        {
        }
        return null;
    }

    public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
    {
        lock (_unbindLock)
        {
            _unbindTask ??= UnbindCoreAsync();
        }
        return new ValueTask(_unbindTask);
    }

    private async Task UnbindCoreAsync()
    {
        try
        {
            // Gracefully: the kernel queues little more here (backlog 0, see StopQueueing), and what it
            // already queued is accepted and handed to Kestrel (which is still serving: it starts closing
            // connections only after every listener is unbound) instead of being reset by the close.
            // Every loop then drops the listening fd from its epoll before the fd is closed, so no loop
            // is ever inside accept4 on a closed (or reused) descriptor.
            foreach (ListenSocket socket in _sockets)
            {
                socket.StopQueueing();
            }
            // Twice: what arrived while the first pass went round the loops is taken by the second,
            // which leaves only the microseconds between its last accept4 and the close.
            await Task.WhenAll(_registrations.Select(r => r.Loop.InvokeAsync(r.Drain))).ConfigureAwait(false);
            await Task.WhenAll(_registrations.Select(r => r.Loop.InvokeAsync(() =>
            {
                r.Drain();
                r.Remove();
            }))).ConfigureAwait(false);
            // A drained connection may have been dealt to another loop (round-robin): that loop starts it
            // from its queue. One more pass through every loop's queue lets those starts reach the
            // channel before it completes, instead of finding it closed and discarding the connection.
            await Task.WhenAll(_loops.Select(loop => loop.InvokeAsync(static () => { }))).ConfigureAwait(false);
        }
        finally
        {
            foreach (ListenSocket socket in _sockets)
            {
                socket.Dispose();
            }
            // A pending AcceptAsync now returns null.
            _accepted.Writer.TryComplete();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        try
        {
            await UnbindAsync().ConfigureAwait(false);
            while (_accepted.Reader.TryRead(out EpollConnection? connection))
            {
                connection.Abort(new ConnectionAbortedException("The listener was disposed before the connection was accepted."));
                await connection.DisposeAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            await _releaseGroup().ConfigureAwait(false);
        }
    }

    private static async Task DiscardAsync(EpollConnection connection)
    {
        try
        {
            connection.Abort(new ConnectionAbortedException("The listener stopped before the connection was accepted."));
            await connection.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Nothing is waiting for this connection; its resources are released by the close itself.
        }
    }
}
