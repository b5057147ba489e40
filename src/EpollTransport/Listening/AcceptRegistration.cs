using System.Net;
using EpollTransport.Diagnostics;
using EpollTransport.Interop;
using EpollTransport.Loops;
using static EpollTransport.Interop.LinuxConstants;

namespace EpollTransport.Listening;

/// <summary>
/// A listening socket as watched by one loop. Level-triggered: whatever a turn leaves in the backlog
/// is reported again. When several loops share one socket, EPOLLEXCLUSIVE wakes one idle loop per
/// new connection instead of all of them.
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
    private static readonly Action<object?> s_resume = static state => ((AcceptRegistration)state!).ResumeAfterBackoff();

    private readonly EpollConnectionListener _listener;
    private readonly ListenSocket _socket;
    private readonly uint _events;
    private readonly DescriptorReserve _reserve;
    private readonly Func<Errno>? _acceptFault;
    private TimeSpan _backoff = s_initialBackoff;
    private bool _suspended;
    private bool _removed;

    public AcceptRegistration(EpollConnectionListener listener, EpollLoop loop, ListenSocket socket, bool shared)
    {
        _listener = listener;
        Loop = loop;
        _socket = socket;
        _events = shared ? EPOLLIN | EPOLLEXCLUSIVE : EPOLLIN;
        _reserve = new DescriptorReserve(loop.Settings.DescriptorLimitTestHook);
        _acceptFault = loop.Settings.AcceptFaultTestHook;
    }

    public EpollLoop Loop { get; }

    public ulong Token { get; set; }

    /// <summary>Starts watching. Loop thread.</summary>
    public void Add()
    {
        Errno errno = Loop.Register(this, _socket.Fd.Value, _events);
        if (errno != Errno.None)
        {
            throw errno.ToSocketException($"epoll_ctl(ADD) for the listener on {_socket.EndPoint}");
        }
    }

    /// <summary>Stops watching, for good. Loop thread; idempotent.</summary>
    public void Remove()
    {
        if (_removed)
        {
            return;
        }
        _removed = true;
        Loop.Unregister(this, _socket.Fd.Value);
    }

    public void OnLoopStopping() => Remove();

    public void OnEvents(uint events)
    {
        if (_removed || _suspended)
        {
            return;
        }
        AcceptPending(MaxAcceptsPerTurn);
    }

    /// <summary>
    /// The listener is closing: takes every connection the kernel has already queued (up to the queue's
    /// bound), since closing a listening socket resets whatever is still in its queue. A pause for
    /// descriptors does not stop this last pass (those connections are refused, as they would be anyway);
    /// an accept error does, and what is left then goes with the close. Loop thread, before
    /// <see cref="Remove"/>.
    /// </summary>
    public void Drain()
    {
        // An inherited socket is shared with the process that takes over: what is queued there is
        // theirs to serve, not ours to take into a server that is shutting down.
        if (!_removed && _socket.IsOwned)
        {
            AcceptPending((int)Math.Clamp((long)Loop.Settings.Backlog + MaxAcceptsPerTurn, MaxAcceptsPerTurn, 65_536));
        }
    }

    private void AcceptPending(int maxAccepts)
    {
        _reserve.Refresh();
        Span<byte> peerAddress = stackalloc byte[SocketAddressCodec.MaxSize];
        bool refusing = false;
        Errno failure = Errno.None;
        for (int i = 0; i < maxAccepts; i++)
        {
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
                    EpollTransportLog.AcceptRetried(Loop.Logger, _socket.EndPoint.ToString()!, errno.Name);
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
            _listener.OnAccepted(Loop, fd, local, remote);
        }
        if (refusing)
        {
            PauseAtDescriptorLimit();
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
    /// Within the descriptor reserve: stop watching the listener for <see cref="s_limitPause"/>, so a
    /// flood is refused in batches, one pass per pause, rather than by a loop spinning on it. The pause
    /// stays short (it does not grow): whatever queues meanwhile is refused, or accepted once
    /// descriptors are free, when it ends.
    /// </summary>
    private void PauseAtDescriptorLimit()
    {
        _listener.ReportDescriptorLimit(Loop, _socket.EndPoint, _reserve, s_limitPause);
        Suspend(s_limitPause);
    }

    /// <summary>
    /// Out of descriptors or memory: the pending connection stays in the backlog, so a level-triggered
    /// registration would report it again at once. Stop watching for a while instead of spinning.
    /// </summary>
    private void BackOff(Errno errno)
    {
        _listener.ReportAcceptFailure(_socket.EndPoint, errno, _backoff);
        TimeSpan pause = _backoff;
        _backoff = TimeSpan.FromTicks(Math.Min(_backoff.Ticks * 2, s_maxBackoff.Ticks));
        Suspend(pause);
    }

    private void Suspend(TimeSpan pause)
    {
        if (_suspended || _removed)
        {
            // Paused already (a drain during a pause, or both reasons in one pass): one timer is enough.
            return;
        }
        _suspended = true;
        Loop.Suspend(_socket.Fd.Value);
        Loop.ScheduleTimer(pause, s_resume, this);
    }

    private void ResumeAfterBackoff()
    {
        _suspended = false;
        if (!_removed)
        {
            Loop.Resume(this, _socket.Fd.Value, _events);
        }
    }
}
