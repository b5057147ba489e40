using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using EpollTransport.Diagnostics;
using EpollTransport.Interop;
using EpollTransport.Loops;
using EpollTransport.Scheduling;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using static EpollTransport.Interop.LinuxConstants;

namespace EpollTransport.Connections;

/// <summary>
/// One accepted connection. Its fd, the transport ends of its two pipes and all the state below the
/// "loop thread only" line belong to the loop that accepted it; other threads reach it only through
/// <see cref="Abort(ConnectionAbortedException)"/>, <see cref="DisposeAsync"/> and pipe continuations
/// that the loop's scheduler runs.
/// </summary>
internal sealed partial class EpollConnection : ConnectionContext, ILoopRegistration, IFdOwner,
    IConnectionIdFeature, IConnectionTransportFeature, IConnectionItemsFeature, IMemoryPoolFeature,
    IConnectionLifetimeFeature, IConnectionEndPointFeature
{
    /// <summary>Registered once, edge-triggered: readiness is reported on change, never re-armed.</summary>
    public const uint EpollEvents = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;

    private const string GracefulShutdownMessage = "The epoll transport's send loop completed gracefully.";

    private static readonly Action<object?> s_closeRequested = static state => ((EpollConnection)state!).OnCloseRequested();
    private static readonly Action<object?> s_registerOnLoop = static state => ((EpollConnection)state!).RegisterOnLoop();
    private static readonly WaitCallback s_notifyConnectionClosed = static state => ((EpollConnection)state!).NotifyConnectionClosed();

    // The loop for its job (queue, registrations, who holds it); its services for everything else.
    private readonly EpollLoop _loop;
    private readonly LoopServices _services;
    private readonly IDuplexPipe _originalTransport;
    private readonly PipeWriter _input;
    private readonly PipeReader _output;
    private readonly CancellationTokenSource _connectionClosedSource = new();
    private readonly TaskCompletionSource _closedAndNotified = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private string? _connectionId;
    private IDictionary<object, object?>? _items;

    // Set once, by whichever thread first decides the connection's fate; the reason and the kind of
    // close travel together so the loop never pairs one caller's reason with another's close kind.
    private ShutdownRequest? _shutdown;
    private int _connectionClosedFired;
    private int _closeStepsLeft = 2;
    private int _disposed;

    // ---- loop thread only ----
    private SocketFd _fd;
    private bool _registered;
    private bool _closed;
    private int _closeStarted;

    public EpollConnection(EpollLoop loop, SocketFd fd, EndPoint? localEndPoint, EndPoint? remoteEndPoint)
    {
        _loop = loop;
        _services = loop.Services;
        _fd = fd;
        // The fd is the owner loop's from now on, before the loop has even registered it: Kestrel may run
        // the application the moment it has the connection, and the guard must already know whose it is.
        FdOwnership.Assign(fd.Value, this);
        ConnectionPipes pipes = loop.Application.CreatePipes(this);
        _input = pipes.Input.Writer;
        _output = pipes.Output.Reader;
        _originalTransport = new DuplexPipe(pipes.ApplicationInput, pipes.Output.Writer);
        Transport = _originalTransport;
        LocalEndPoint = localEndPoint;
        RemoteEndPoint = remoteEndPoint;
        ConnectionClosed = _connectionClosedSource.Token;
        _onFlushCompleted = OnInputFlushCompleted;
        _onOutputReadCompleted = OnOutputReadCompleted;
    }

    public ulong Token { get; set; }

    public override string ConnectionId
    {
        get => _connectionId ??= ConnectionIdGenerator.Next();
        set => _connectionId = value;
    }

    public override IDictionary<object, object?> Items
    {
        get => _items ??= new Dictionary<object, object?>();
        set => _items = value;
    }

    public override IDuplexPipe Transport { get; set; }

    public MemoryPool<byte> MemoryPool => _services.MemoryPool;

    /// <summary>
    /// Kestrel has accepted the connection: its loop registers the fd and starts serving it. Until then
    /// nothing reads it (a connection the host has not taken costs the process no buffers). Any thread;
    /// an abort that follows is queued behind the registration, so it always finds the fd registered.
    /// </summary>
    public void Start() => _loop.Scheduler.Schedule(s_registerOnLoop, this);

    private void RegisterOnLoop()
    {
        if (!_loop.IsOwnerInTransportCode)
        {
            // The loop stopped before it got here (its queue was handed to the thread pool): nothing
            // will ever serve this connection, so it ends as every connection of a stopping loop does.
            RequestShutdown(new ConnectionAbortedException("The epoll transport is shutting down."), abortive: true);
            CloseSocket();
            return;
        }
        Errno errno = _loop.Register(this, _fd.Value, EpollEvents);
        if (errno != Errno.None)
        {
            EpollTransportLog.ConnectionRegistrationFailed(_services.Logger, ConnectionId, RemoteEndPoint?.ToString(), _services.LoopIndex, errno.Name);
            RequestShutdown(new ConnectionAbortedException($"The epoll transport could not register the connection ({errno.Name}).",
                errno.ToSocketException("epoll_ctl(ADD)")), abortive: true);
            CloseSocket();
            return;
        }
        _registered = true;
        _services.Counters.ConnectionsAccepted++;
        _services.Counters.ConnectionsCurrent++;
        PumpOutput();
    }

    public void OnEvents(uint events)
    {
        if (_closed)
        {
            return;
        }
        _services.Settings.Hooks?.ConnectionEvents?.Invoke(this);
        if ((events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0)
        {
            // Sticky: the edge for the FIN (or error) may be consumed while reading is paused.
            _peerClosedSeen = true;
        }
        if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0)
        {
            OnWritable();
        }
        if (!_closed && (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) != 0)
        {
            OnReadable();
        }
    }

    public bool OnLoopStopping()
    {
        RequestShutdown(new ConnectionAbortedException("The epoll transport is shutting down."), abortive: true);
        CloseSocket();
        return true;
    }

    void ILoopRegistration.OnFailure(Exception exception) => Fail(exception);

    /// <summary>
    /// Something threw while handling this connection (on its loop, or in its pump off the loop): fail
    /// this connection only, with RST.
    /// </summary>
    private void Fail(Exception exception)
    {
        EpollTransportLog.ConnectionFailed(_services.Logger, ConnectionId, exception);
        RequestShutdown(new ConnectionAbortedException("The epoll transport failed while handling the connection.", exception), abortive: true);
        CloseOnLoop();
    }

    /// <summary>
    /// Closes the connection: with a reason, abortively (RST) unless Kestrel's FinOnError switch is set;
    /// without one, gracefully (FIN). Thread-safe, idempotent and non-blocking; the first shutdown wins.
    /// </summary>
    public override void Abort(ConnectionAbortedException abortReason)
    {
        ConnectionAbortedException? reason = abortReason;
        bool won = RequestShutdown(reason ?? new ConnectionAbortedException(GracefulShutdownMessage),
            abortive: reason is not null && !_services.Settings.FinOnError);

        // Stops the send pump even if it is waiting for the application: buffered output is dropped.
        _output.CancelPendingRead();
        if (won)
        {
            _loop.Scheduler.Schedule(s_closeRequested, this);
        }
    }

    void IConnectionLifetimeFeature.Abort()
        => Abort(new ConnectionAbortedException("The connection was aborted by the application via IConnectionLifetimeFeature.Abort()."));

    /// <summary>
    /// Completes the original pipe ends (middleware may have replaced <see cref="Transport"/>), then waits
    /// until the socket is closed and <c>ConnectionClosed</c> has fired.
    /// </summary>
    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _originalTransport.Input.Complete();
            _originalTransport.Output.Complete();
        }
        await _closedAndNotified.Task.ConfigureAwait(false);
    }

    /// <summary>Records why the connection ends; only the first caller's reason and close kind count.</summary>
    private bool RequestShutdown(Exception reason, bool abortive)
        => Interlocked.CompareExchange(ref _shutdown, new ShutdownRequest(reason, abortive), null) is null;

    /// <summary>Why the connection is ending, once decided; completes the input like Sockets' shutdown reason.</summary>
    private Exception? ShutdownReason => Volatile.Read(ref _shutdown)?.Reason;

    private void OnCloseRequested() => CloseSocket();

    /// <summary>Closes the fd and completes the transport's pipe ends. Loop thread; idempotent.</summary>
    private void CloseSocket()
    {
        if (_closed)
        {
            return;
        }
        // Never while another thread is inside the pump (it may be in sendmsg on this descriptor): the
        // last sender to leave queues this close again (TryEnterSender explains the fences).
        Interlocked.Exchange(ref _closeWanted, 1);
        if (Volatile.Read(ref _sendersInside) > 0)
        {
            return;
        }
        // The flag is loop state, but a connection whose loop had already stopped is closed from the
        // thread pool, where its start and a queued abort may run at once: exactly one of them closes.
        if (Interlocked.Exchange(ref _closeStarted, 1) != 0)
        {
            return;
        }
        _closed = true;
        ShutdownRequest? shutdown = Volatile.Read(ref _shutdown);
        Exception? reason = shutdown?.Reason;

        try
        {
            if (shutdown?.Abortive == true)
            {
                EpollTransportLog.ConnectionWriteRst(_services.Logger, ConnectionId, reason?.Message ?? GracefulShutdownMessage);
                _fd.SetLingerZero();
            }
            else
            {
                EpollTransportLog.ConnectionWriteFin(_services.Logger, ConnectionId, reason?.Message ?? GracefulShutdownMessage);
                _fd.Shutdown(SHUT_RDWR);
            }
        }
        finally
        {
            if (_registered)
            {
                _loop.Unregister(this, _fd.Value);
                _services.Counters.ConnectionsCurrent--;
            }
            _fd.Close();
            _fd = SocketFd.Invalid;
        }

        CompleteInputOnClose(reason);
        CompleteOutputOnClose();
        FireConnectionClosed();
        CloseStepDone();
    }

    private void FireConnectionClosed()
    {
        // Never inline: ConnectionClosed callbacks run application code, which must not run under loop state.
        if (Interlocked.Exchange(ref _connectionClosedFired, 1) == 0)
        {
            ThreadPool.UnsafeQueueUserWorkItem(s_notifyConnectionClosed, this);
        }
    }

    private void NotifyConnectionClosed()
    {
        try
        {
            _connectionClosedSource.Cancel();
        }
        catch (Exception ex)
        {
            EpollTransportLog.ConnectionError(_services.Logger, ConnectionId, ex);
        }
        finally
        {
            CloseStepDone();
        }
    }

    private void CloseStepDone()
    {
        if (Interlocked.Decrement(ref _closeStepsLeft) == 0)
        {
            _closedAndNotified.TrySetResult();
        }
    }

    /// <summary>Reads, registration and close: the loop's current owner, in transport code.</summary>
    bool IFdOwner.IsCallerOwner => _loop.IsOwnerInTransportCode;

    /// <summary>Sends: the thread that runs the pump, off the loop or on it.</summary>
    bool IFdOwner.IsCallerSender => t_sender == this || _loop.IsOwnerInTransportCode;

    /// <summary>Close: the loop's owner, with no sender inside.</summary>
    bool IFdOwner.IsCallerCloser => _loop.IsOwnerInTransportCode && Volatile.Read(ref _sendersInside) == 0;

    string IFdOwner.Describe() => $"connection {ConnectionId} of epoll loop {_services.LoopIndex}";

    private sealed record ShutdownRequest(Exception Reason, bool Abortive);
}
