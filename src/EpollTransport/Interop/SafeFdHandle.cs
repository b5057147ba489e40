using Microsoft.Win32.SafeHandles;

namespace EpollTransport.Interop;

/// <summary>
/// Owns a long-lived descriptor (epoll instance, eventfd, listening socket) and closes it once. Only -1
/// is invalid: 0 is an ordinary descriptor number, which a process started with its stdin closed hands
/// to the first socket it opens.
/// </summary>
internal sealed class SafeFdHandle : SafeHandleMinusOneIsInvalid
{
    public SafeFdHandle(int fd, bool ownsHandle = true) : base(ownsHandle)
    {
        SetHandle(fd);
    }

    /// <summary>The descriptor number, for calls made while the owner guarantees it stays open.</summary>
    public int Fd => (int)handle;

    protected override bool ReleaseHandle() => Libc.close((int)handle) == 0;
}
