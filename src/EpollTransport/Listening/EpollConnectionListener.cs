using System.Net;
using EpollTransport.Connections;
using EpollTransport.Diagnostics;
using EpollTransport.Loops;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace EpollTransport.Listening;

/// <summary>
/// Kestrel's view of one endpoint. The path of a connection runs one way: a loop's
/// <see cref="AcceptRegistration"/> takes it from the kernel into the bounded <see cref="AcceptQueue"/>;
/// <see cref="AcceptAsync"/> takes it from there, lets the loop group pick the loop that will own it,
/// and hands Kestrel a connection whose owner loop registers it and starts reading it.
/// </summary>
internal sealed class EpollConnectionListener : IConnectionListener
{
    private readonly EpollLoopGroup _group;
    private readonly ListenSocket[] _sockets;
    private readonly AcceptRegistration[] _registrations;
    private readonly AcceptQueue _queue;
    private readonly Func<ValueTask> _releaseGroup;
    private readonly ILogger _logger;
    private readonly object _unbindLock = new();
    private Task? _unbindTask;
    private CancellationToken _shutdownToken;
    private volatile bool _unbindAbandoned;
    private int _disposed;

    private EpollConnectionListener(EpollLoopGroup group, ListenSocket[] sockets, Func<ValueTask> releaseGroup, ILogger logger)
    {
        _group = group;
        _sockets = sockets;
        _releaseGroup = releaseGroup;
        _logger = logger;
        _queue = new AcceptQueue(group.Settings.Hooks?.AcceptQueueCapacity ?? AcceptQueue.CapacityFor(group.Settings.Backlog));
        EndPoint = sockets[0].EndPoint;
        EpollLoop[] loops = group.Loops;
        var warnings = new ListenerWarnings();
        bool shared = sockets.Length == 1 && loops.Length > 1;
        _registrations = new AcceptRegistration[loops.Length];
        for (int i = 0; i < loops.Length; i++)
        {
            _registrations[i] = new AcceptRegistration(loops[i], sockets[sockets.Length == 1 ? 0 : i], _queue, warnings, shared);
        }
    }

    public EndPoint EndPoint { get; }

    /// <summary>
    /// Binds and starts accepting on every loop of <paramref name="group"/>. On failure everything made
    /// here is undone, but the group reference stays the caller's to release (once).
    /// </summary>
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
            await listener.UndoBindAsync().ConfigureAwait(false);
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
        // SO_REUSEPORT is a TCP matter here: Linux 6.13 and later refuse it on AF_UNIX sockets.
        bool reusePort = settings.ReusePort && endPoint is IPEndPoint;
        if (!reusePort || group.Loops.Length == 1)
        {
            return [ListenSocket.Bind(endPoint, settings, reusePort)];
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

    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        AcceptedSocket? accepted = await _queue.TakeAsync(cancellationToken).ConfigureAwait(false);
        if (accepted is null)
        {
            return null;
        }
        // Per-loop SO_REUSEPORT sockets are balanced by the kernel, so the accepting loop keeps the
        // connection. A shared socket wakes one loop per burst (EPOLLEXCLUSIVE), and that loop would take
        // the whole burst, so the group deals connections round-robin instead.
        EpollLoop owner = _sockets.Length == 1 ? _group.NextOwner() : accepted.AcceptingLoop;
        var connection = new EpollConnection(owner, accepted.Fd, accepted.LocalEndPoint, accepted.RemoteEndPoint);
        connection.Start();
        return connection;
    }

    /// <summary>
    /// Stops accepting gracefully. Returns when every loop has let go of the listening sockets, or, with
    /// a loop held by application code (a blocked handler under unprotected inline scheduling, or
    /// with every spare thread stuck), as soon as <paramref name="cancellationToken"/> fires (Kestrel's
    /// shutdown timeout): the rest then finishes in the background.
    /// </summary>
    public async ValueTask UnbindAsync(CancellationToken cancellationToken = default)
    {
        Task unbind = StartUnbind();
        if (cancellationToken.CanBeCanceled)
        {
            _shutdownToken = cancellationToken;
        }
        try
        {
            await unbind.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            _unbindAbandoned = true;
            // Kestrel's accept loop waits for AcceptAsync to return null before its unbind completes;
            // the stuck loop would otherwise hold the whole server's shutdown. What is queued is still
            // handed out first.
            _queue.Complete();
            EpollTransportLog.UnbindAbandoned(_logger, EndPoint.ToString()!);
        }
    }

    private Task StartUnbind()
    {
        lock (_unbindLock)
        {
            return _unbindTask ??= UnbindCoreAsync();
        }
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
        }
        finally
        {
            foreach (ListenSocket socket in _sockets)
            {
                socket.Dispose();
            }
            // A pending AcceptAsync returns what the drain queued, then null.
            _queue.Complete();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        Task unbind = StartUnbind();
        Task finish = FinishDisposeAsync(unbind);
        if (_unbindAbandoned)
        {
            // Kestrel's shutdown timeout has passed already: do not wait for a loop that application
            // code holds. The listener lets go of the group when its loops let go of it.
            return;
        }
        try
        {
            await finish.WaitAsync(_shutdownToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_shutdownToken.IsCancellationRequested)
        {
            EpollTransportLog.UnbindAbandoned(_logger, EndPoint.ToString()!);
        }
    }

    private async Task FinishDisposeAsync(Task unbind)
    {
        try
        {
            await unbind.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            EpollTransportLog.ListenerCloseFailed(_logger, EndPoint.ToString()!, ex);
        }
        finally
        {
            _queue.CompleteAndRejectRest();
            await _releaseGroup().ConfigureAwait(false);
        }
    }

    /// <summary>A bind failed half-way: undo the registrations that were made and close the sockets. The group is not released here.</summary>
    private async Task UndoBindAsync()
    {
        try
        {
            await Task.WhenAll(_registrations.Select(r => r.Loop.InvokeAsync(r.Remove))).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            EpollTransportLog.ListenerCloseFailed(_logger, EndPoint.ToString()!, ex);
        }
        finally
        {
            foreach (ListenSocket socket in _sockets)
            {
                socket.Dispose();
            }
            _queue.CompleteAndRejectRest();
        }
    }
}
