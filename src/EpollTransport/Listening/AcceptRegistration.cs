using System.Net;
using EpollTransport.Diagnostics;
using EpollTransport.Interop;
using EpollTransport.Loops;
using static EpollTransport.Interop.LinuxConstants;

namespace EpollTransport.Listening;

/// <summary>
/// A listening socket as watched by one loop: it takes connections from the kernel's backlog into the
/// listener's <see cref="AcceptQueue"/> and nothing more (no registration, no read: that waits for
/// Kestrel's <c>AcceptAsync</c>). Level-triggered: whatever a turn leaves in the backlog is reported
/// again. When several loops share one socket, EPOLLEXCLUSIVE wakes one idle loop per new connection
/// instead of all of them.
/// <para>
/// The socket is watched unless one of three things holds: the registration was removed (unbind), a
/// pause is running (a back-off after an accept error, or the descriptor reserve), or the accept queue
/// is full. <see cref="UpdateWatch"/> is the one place that turns the epoll registration on and off.
/// </para>
/// </summary>
internal sealed class AcceptRegistration : ILoopRegistration
{
    /// <summary>Connections accepted per readiness report before the loop serves its other fds.</summary>
    private const int MaxAcceptsPerTurn = 32;
    private static readonly TimeSpan s_initialBackoff = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan s_maxBackoff = TimeSpan.FromSeconds(1);

    /// <summary>How long accepting pauses after refusing connections at the descriptor limit.</summary>
    private static readonly TimeSpan s_limitPause = TimeSpan.FromMilliseconds(100);

    /// <summary>How many connections one refusing pass may take from the backlog (the kernel's queue bound is 4096 by default).</summary>
    private const int RefusalPassBound = 4096;
    private static readonly Action<object?> s_endPause = static state => ((AcceptRegistration)state!).EndPause();
    private static readonly Action<object?> s_roomMade = static state => ((AcceptRegistration)state!).OnRoomMade();

    private readonly ListenSocket _socket;
    private readonly AcceptQueue _queue;
    private readonly ListenerWarnings _warnings;
    private readonly string _endPoint;
    private readonly uint _events;
    private readonly DescriptorReserve _reserve;
    private readonly Func<Errno>? _acceptFault;
    private readonly Func<Errno>? _rewatchFault;
    private TimeSpan _backoff = s_initialBackoff;
    private bool _added;
    private bool _watching;
    private bool _paused;
    private bool _waitingForRoom;
    private bool _removed;

    public AcceptRegistration(EpollLoop loop, ListenSocket socket, AcceptQueue queue, ListenerWarnings warnings, bool shared)
    {
        Loop = loop;
        _socket = socket;
        _queue = queue;
        _warnings = warnings;
        _endPoint = socket.EndPoint.ToString()!;
        _events = shared ? EPOLLIN | EPOLLEXCLUSIVE : EPOLLIN;
        TestHooks? hooks = loop.Settings.Hooks;
        _reserve = new DescriptorReserve(hooks?.DescriptorLimit);
        _acceptFault = hooks?.AcceptFault;
        _rewatchFault = hooks?.ListenerRewatchFault;
    }

    public EpollLoop Loop { get; }

    public ulong Token { get; set; }

    /// <summary>Starts watching. Loop thread.</summary>
    public void Add()
    {
        Errno errno = Loop.Register(this, _socket.Fd.Value, _events);
        if (errno != Errno.None)
        {
            throw errno.ToSocketException($"epoll_ctl(ADD) for the listener on {_endPoint}");
        }
        _added = true;
        _watching = true;
    }

    /// <summary>Stops watching, for good. Loop thread; idempotent; a no-op if <see cref="Add"/> failed.</summary>
    public void Remove()
    {
        if (_removed)
        {
            return;
        }
        _removed = true;
        if (_added)
        {
            // Unregister deletes the fd from epoll even while a pause has it out already; a failing
            // EPOLL_CTL_DEL then only says so. Never called for a failed Add: the fd may be another
            // listener's registration on this same epoll instance (an inherited socket bound twice).
            Loop.Unregister(this, _socket.Fd.Value);
            _watching = false;
        }
    }

    public bool OnLoopStopping()
    {
        Remove();
        return false;
    }

    /// <summary>
    /// Accepting threw (a bug, not a refused accept: those are handled in place). The listener stays
    /// watched: the next readiness report tries again, and the loop has logged the error.
    /// </summary>
    public void OnFailure(Exception exception)
    {
    }

    public void OnEvents(uint events)
    {
        if (_watching)
        {
            AcceptPending(MaxAcceptsPerTurn, drain: false);
        }
    }

    /// <summary>
    /// The listener is closing: takes every connection the kernel has already queued (up to the queue's
    /// bound), since closing a listening socket resets whatever is still in its queue. Neither a pause
    /// nor a full accept queue stops this last pass (Kestrel still takes what it holds); an accept error
    /// does, and what is left then goes with the close. Loop thread, before <see cref="Remove"/>.
    /// </summary>
    public void Drain()
    {
        // An inherited socket is shared with the process that takes over: what is queued there is
        // theirs to serve, not ours to take into a server that is shutting down.
        if (_added && !_removed && _socket.IsOwned)
        {
            AcceptPending((int)Math.Clamp((long)Loop.Settings.Backlog + MaxAcceptsPerTurn, MaxAcceptsPerTurn, 65_536), drain: true);
        }
    }

    /// <summary>A take made room in the accept queue. Any thread: the resume runs on the loop.</summary>
    public void ResumeForRoom() => Loop.Scheduler.Schedule(s_roomMade, this);

    private void AcceptPending(int maxAccepts, bool drain)
    {
        _reserve.Refresh();
        Span<byte> peerAddress = stackalloc byte[SocketAddressCodec.MaxSize];
        bool refusing = false;
        Errno failure = Errno.None;
        for (int i = 0; i < maxAccepts; i++)
        {
            if (!drain && !_queue.HasRoom && _queue.WaitForRoom(this))
            {
                // Kestrel is behind: leave the rest in the kernel's backlog until it takes one.
                _waitingForRoom = true;
                UpdateWatch();
                break;
            }

            SocketFd fd = Accept(peerAddress, out int peerAddressLength, out Errno errno);
            if (!fd.IsValid)
            {
                if (errno == Errno.EAGAIN)
                {
                    break;
                }
                if (errno.IsTransientAcceptError)
                {
                    // That one connection died in the backlog (accept(2) says: retry); the listener is fine.
                    EpollTransportLog.AcceptRetried(Loop.Logger, _endPoint, errno.Name);
                    continue;
                }
                failure = errno;
                break;
            }

            if (!_reserve.Admits(fd.Value))
            {
                // Reset it now: the client learns at once, instead of waiting in the backlog for a
                // connection this process cannot afford. The next accept gets the same number back, so the
                // rest of the backlog is refused the same way, all of it in this pass.
                Refuse(fd);
                Loop.Counters.ConnectionsRefused++;
                if (!refusing)
                {
                    refusing = true;
                    maxAccepts = Math.Max(maxAccepts, RefusalPassBound);
                }
                continue;
            }

            _backoff = s_initialBackoff;
            EndPoint? remote = SocketAddressCodec.Decode(peerAddress[..peerAddressLength]);
            EndPoint? local = _socket.IsWildcard ? fd.GetLocalEndPoint() : _socket.LocalEndPointForConnection();
            _queue.Add(new AcceptedSocket(fd, local, remote, Loop));
        }
        if (refusing)
        {
            _warnings.DescriptorLimitReached(Loop, _endPoint, _reserve, s_limitPause);
            Pause(s_limitPause);
        }
        if (failure != Errno.None)
        {
            BackOff(failure);
        }
    }

    private SocketFd Accept(Span<byte> peerAddress, out int peerAddressLength, out Errno errno)
    {
        if (_acceptFault?.Invoke() is { } fault && fault != Errno.None)
        {
            peerAddressLength = 0;
            errno = fault;
            return SocketFd.Invalid;
        }
        return _socket.Fd.Accept(peerAddress, out peerAddressLength, out errno);
    }

    private static void Refuse(SocketFd fd)
    {
        // SO_LINGER 0: close sends RST, so the refused client fails at once and no FIN handshake or
        // TIME_WAIT is left for a connection that never carried a byte.
        fd.SetLingerZero();
        fd.Close();
    }

    /// <summary>
    /// Out of descriptors or memory: the pending connection stays in the backlog, so a level-triggered
    /// registration would report it again at once. Stop watching for a while (doubling up to a second)
    /// instead of spinning.
    /// </summary>
    private void BackOff(Errno errno)
    {
        TimeSpan pause = _backoff;
        _backoff = TimeSpan.FromTicks(Math.Min(_backoff.Ticks * 2, s_maxBackoff.Ticks));
        _warnings.AcceptFailed(Loop, _endPoint, errno, pause);
        Pause(pause);
    }

    /// <summary>
    /// Stops watching for <paramref name="pause"/>. The pause stays short: whatever queues meanwhile is
    /// accepted (or refused) when it ends. One timer at a time: a second reason within a pause is covered.
    /// </summary>
    private void Pause(TimeSpan pause)
    {
        if (_paused || _removed)
        {
            return;
        }
        _paused = true;
        UpdateWatch();
        Loop.ScheduleTimer(pause, s_endPause, this);
    }

    private void EndPause()
    {
        _paused = false;
        UpdateWatch();
    }

    private void OnRoomMade()
    {
        _waitingForRoom = false;
        UpdateWatch();
    }

    /// <summary>
    /// Makes the epoll registration match the state: watched unless removed, paused or waiting for room.
    /// A failed re-watch (epoll_ctl ADD failing with ENOMEM, the very shortage that may have caused the
    /// pause) is retried after a back-off instead of leaving this loop deaf to the listener for good.
    /// Loop thread.
    /// </summary>
    private void UpdateWatch()
    {
        bool wanted = _added && !_removed && !_paused && !_waitingForRoom;
        if (wanted == _watching)
        {
            return;
        }
        if (!wanted)
        {
            Loop.Suspend(_socket.Fd.Value);
            _watching = false;
            return;
        }
        Errno errno = _rewatchFault?.Invoke() is { } fault && fault != Errno.None
            ? fault
            : Loop.Resume(this, _socket.Fd.Value, _events);
        if (errno != Errno.None)
        {
            _warnings.RewatchFailed(Loop, _endPoint, errno, _backoff);
            TimeSpan pause = _backoff;
            _backoff = TimeSpan.FromTicks(Math.Min(_backoff.Ticks * 2, s_maxBackoff.Ticks));
            Pause(pause);
            return;
        }
        _watching = true;
    }
}
