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
    private static readonly Action<object?> s_resume = static state => ((AcceptRegistration)state!).ResumeAfterBackoff();

    private readonly EpollConnectionListener _listener;
    private readonly ListenSocket _socket;
    private readonly uint _events;
    private TimeSpan _backoff = s_initialBackoff;
    private bool _suspended;
    private bool _removed;

    public AcceptRegistration(EpollConnectionListener listener, EpollLoop loop, ListenSocket socket, bool shared)
    {
        _listener = listener;
        Loop = loop;
        _socket = socket;
        _events = shared ? EPOLLIN | EPOLLEXCLUSIVE : EPOLLIN;
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

        Span<byte> peerAddress = stackalloc byte[SocketAddressCodec.MaxSize];
        for (int i = 0; i < MaxAcceptsPerTurn; i++)
        {
            SocketFd fd = _socket.Fd.Accept(peerAddress, out int peerAddressLength, out Errno errno);
            if (!fd.IsValid)
            {
                if (errno == Errno.EAGAIN)
                {
                    return;
                }
                if (errno.IsTransientAcceptError)
                {
                    // That one connection died in the backlog (accept(2) says: retry); the listener is fine.
                    EpollTransportLog.AcceptRetried(Loop.Logger, _socket.EndPoint.ToString()!, errno.Name);
                    continue;
                }
                BackOff(errno);
                return;
            }

            _backoff = s_initialBackoff;
            EndPoint? remote = SocketAddressCodec.Decode(peerAddress[..peerAddressLength]);
            EndPoint? local = _socket.IsWildcard ? fd.GetLocalEndPoint() : _socket.LocalEndPointForConnection();
            _listener.OnAccepted(Loop, fd, local, remote);
        }
    }

    /// <summary>
    /// Out of descriptors or memory: the pending connection stays in the backlog, so a level-triggered
    /// registration would report it again at once. Stop watching for a while instead of spinning.
    /// </summary>
    private void BackOff(Errno errno)
    {
        _suspended = true;
        Loop.Suspend(_socket.Fd.Value);
        _listener.ReportAcceptFailure(_socket.EndPoint, errno, _backoff);
        Loop.ScheduleTimer(_backoff, s_resume, this);
        _backoff = TimeSpan.FromTicks(Math.Min(_backoff.Ticks * 2, s_maxBackoff.Ticks));
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
