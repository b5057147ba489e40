using static EpollTransport.Interop.LinuxConstants;

namespace EpollTransport.Interop;

/// <summary>An eventfd used to wake a loop thread blocked in epoll_wait.</summary>
internal sealed unsafe class WakeEvent : IDisposable
{
    private readonly SafeFdHandle _handle;

    public WakeEvent()
    {
        int fd = Libc.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (fd < 0)
        {
            throw Errno.Last.ToSocketException("eventfd");
        }
        _handle = new SafeFdHandle(fd);
    }

    public int Fd => _handle.Fd;

    public void Signal()
    {
        ulong one = 1;
        // EAGAIN only if the counter is about to overflow, in which case a wake-up is pending anyway.
        // The loop registers the eventfd edge-triggered and never reads it: each write is a new edge.
        Libc.write(_handle.Fd, &one, sizeof(ulong));
    }

    public void Dispose() => _handle.Dispose();
}
