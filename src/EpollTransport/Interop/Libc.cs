using System.Runtime.InteropServices;
using Tmds.Linux;
using TmdsLibC = Tmds.Linux.LibC;

namespace EpollTransport.Interop;

/// <summary>
/// The raw libc entry points the wrappers in this folder call, and only they. The declarations are
/// Tmds.LibC's (its P/Invokes set the last P/Invoke error, so callers read <c>errno</c> through
/// <see cref="Errno.Last"/> as before); this class forwards to them in the plain types the wrappers use
/// (ints, <c>nint</c>, byte pointers), so nothing above <c>Interop/</c> sees Tmds.Linux.
/// Declared here by hand, because Tmds.LibC 0.5.0 has no declaration of them: <c>readv</c>,
/// <c>gettid</c> and <c>getrlimit</c> (with its <see cref="ResourceLimit"/>).
/// </summary>
internal static unsafe partial class Libc
{
    private const string LibraryName = "libc";

    [LibraryImport(LibraryName)]
    public static partial int gettid();

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial nint readv(int fd, iovec* vectors, int count);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int getrlimit(int resource, ResourceLimit* limit);

    internal static int socket(int domain, int type, int protocol) => TmdsLibC.socket(domain, type, protocol);

    internal static int bind(int fd, byte* address, int addressLength) => TmdsLibC.bind(fd, (sockaddr*)address, (uint)addressLength);

    internal static int listen(int fd, int backlog) => TmdsLibC.listen(fd, backlog);

    // socklen_t is a 32-bit value in a struct of its own: an int* addresses the same four bytes.
    internal static int accept4(int fd, byte* address, int* addressLength, int flags) => TmdsLibC.accept4(fd, (sockaddr*)address, (socklen_t*)addressLength, flags);

    internal static int setsockopt(int fd, int level, int name, void* value, int valueLength) => TmdsLibC.setsockopt(fd, level, name, value, (uint)valueLength);

    internal static int getsockopt(int fd, int level, int name, void* value, int* valueLength) => TmdsLibC.getsockopt(fd, level, name, value, (socklen_t*)valueLength);

    internal static int getsockname(int fd, byte* address, int* addressLength) => TmdsLibC.getsockname(fd, (sockaddr*)address, (socklen_t*)addressLength);

    internal static int getpeername(int fd, byte* address, int* addressLength) => TmdsLibC.getpeername(fd, (sockaddr*)address, (socklen_t*)addressLength);

    internal static int shutdown(int fd, int how) => TmdsLibC.shutdown(fd, how);

    internal static int close(int fd) => TmdsLibC.close(fd);

    internal static nint send(int fd, byte* buffer, nint length, int flags) => (nint)(long)TmdsLibC.send(fd, buffer, (size_t)(ulong)length, flags);

    internal static nint sendmsg(int fd, msghdr* message, int flags) => (nint)(long)TmdsLibC.sendmsg(fd, message, flags);

    internal static nint read(int fd, void* buffer, nint count) => (nint)(long)TmdsLibC.read(fd, buffer, (size_t)(ulong)count);

    internal static nint write(int fd, void* buffer, nint count) => (nint)(long)TmdsLibC.write(fd, buffer, (size_t)(ulong)count);

    internal static int fcntl(int fd, int command, int argument) => TmdsLibC.fcntl(fd, command, argument);

    internal static int epoll_create1(int flags) => TmdsLibC.epoll_create1(flags);

    // Our event buffers are byte arrays in the kernel's (packed, 12-byte) epoll_event layout, the layout
    // Tmds.Linux.epoll_event has too.
    internal static int epoll_ctl(int epollFd, int operation, int fd, byte* epollEvent) => TmdsLibC.epoll_ctl(epollFd, operation, fd, (epoll_event*)epollEvent);

    internal static int epoll_wait(int epollFd, byte* events, int maxEvents, int timeoutMilliseconds) => TmdsLibC.epoll_wait(epollFd, (epoll_event*)events, maxEvents, timeoutMilliseconds);

    internal static int eventfd(uint initialValue, int flags) => TmdsLibC.eventfd(initialValue, flags);

    [StructLayout(LayoutKind.Sequential)]
    internal struct ResourceLimit
    {
        public ulong Current;
        public ulong Maximum;
    }
}
