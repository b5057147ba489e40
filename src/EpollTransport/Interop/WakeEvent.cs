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
        // The reference keeps the descriptor open while we write: a thread that decided to wake the
        // loop and was then descheduled must not write into a number the stopped loop's close freed
        // for reuse (it would put 8 bytes into somebody else's file).
        bool added = false;
        try
        {
            _handle.DangerousAddRef(ref added);
        }
        catch (ObjectDisposedException)
        {
            return;
        }
        try
        {
            // EAGAIN only if the counter is about to overflow, in which case a wake-up is pending anyway.
            // The loop registers the eventfd edge-triggered and never reads it: each write is a new edge.
            Libc.write(_handle.Fd, &one, sizeof(ulong));
        }
        finally
        {
            if (added)
            {
                _handle.DangerousRelease();
            }
        }
    }

    public void Dispose() => _handle.Dispose();
}
