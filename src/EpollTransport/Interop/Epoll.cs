using System.Runtime.InteropServices;
using static EpollTransport.Interop.LinuxConstants;

namespace EpollTransport.Interop;

/// <summary>
/// One epoll instance. Registrations carry a caller-chosen 64-bit token (the transport uses a slot and
/// generation), never a pointer.
/// </summary>
internal sealed unsafe class Epoll : IDisposable
{
    // struct epoll_event is packed (12 bytes) on x86-64 and naturally aligned (16 bytes) elsewhere.
    private static readonly bool s_packed = RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.X86;
    private static readonly int s_stride = s_packed ? 12 : 16;
    private static readonly int s_dataOffset = s_packed ? 4 : 8;

    private readonly SafeFdHandle _handle;
    private readonly int _capacity;
    private byte* _events;

    public Epoll(int capacity)
    {
        int fd = Libc.epoll_create1(EPOLL_CLOEXEC);
        if (fd < 0)
        {
            throw Errno.Last.ToSocketException("epoll_create1");
        }
        _handle = new SafeFdHandle(fd);
        _capacity = capacity;
        _events = (byte*)NativeMemory.AllocZeroed((nuint)(capacity * s_stride));
    }

    public Errno Add(int fd, uint events, ulong token) => Control(EPOLL_CTL_ADD, fd, events, token);

    public Errno Delete(int fd) => Control(EPOLL_CTL_DEL, fd, 0, 0);

    /// <summary>
    /// Waits for events; returns how many are ready (0 on timeout or EINTR). Read them with
    /// <see cref="EventsAt"/> and <see cref="TokenAt"/>.
    /// </summary>
    public int Wait(int timeoutMilliseconds)
    {
        int count = Libc.epoll_wait(_handle.Fd, _events, _capacity, timeoutMilliseconds);
        if (count < 0)
        {
            Errno errno = Errno.Last;
            if (errno == Errno.EINTR)
            {
                return 0;
            }
            throw errno.ToSocketException("epoll_wait");
        }
        return count;
    }

    /// <summary>
    /// Whether epoll_wait would return events now, without taking them: an epoll descriptor polls
    /// readable while its ready list holds an event that is still ready (the kernel drops one that is
    /// not, as epoll_wait itself would). Any thread: the stall watchdog asks about a loop whose thread is
    /// away in application code. False once the instance is disposed.
    /// </summary>
    public bool HasReadyEvents()
    {
        bool added = false;
        try
        {
            _handle.DangerousAddRef(ref added);
            var descriptor = new PollDescriptor { Fd = _handle.Fd, Events = POLLIN };
            return Libc.poll(&descriptor, 1, 0) > 0 && (descriptor.ReturnedEvents & POLLIN) != 0;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
        finally
        {
            if (added)
            {
                _handle.DangerousRelease();
            }
        }
    }

    public uint EventsAt(int index) => *(uint*)(_events + index * s_stride);

    public ulong TokenAt(int index) => *(ulong*)(_events + index * s_stride + s_dataOffset);

    private Errno Control(int operation, int fd, uint events, ulong token)
    {
        byte* ev = stackalloc byte[16];
        *(uint*)ev = events;
        *(ulong*)(ev + s_dataOffset) = token;
        return Libc.epoll_ctl(_handle.Fd, operation, fd, ev) == 0 ? Errno.None : Errno.Last;
    }

    public void Dispose()
    {
        _handle.Dispose();
        if (_events != null)
        {
            NativeMemory.Free(_events);
            _events = null;
        }
    }
}
