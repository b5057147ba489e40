using System.Runtime.InteropServices;

namespace EpollTransport.Interop;

/// <summary>
/// The raw libc entry points. Every call sets the thread's last P/Invoke error so callers can read
/// <c>errno</c> through <see cref="Errno.Last"/>. Only the wrappers in this folder call these.
/// </summary>
internal static unsafe partial class Libc
{
    private const string LibraryName = "libc";

    [LibraryImport(LibraryName)]
    public static partial int gettid();

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int socket(int domain, int type, int protocol);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int bind(int fd, byte* address, int addressLength);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int listen(int fd, int backlog);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int accept4(int fd, byte* address, int* addressLength, int flags);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int setsockopt(int fd, int level, int name, void* value, int valueLength);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int getsockopt(int fd, int level, int name, void* value, int* valueLength);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int getsockname(int fd, byte* address, int* addressLength);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int getpeername(int fd, byte* address, int* addressLength);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int shutdown(int fd, int how);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int close(int fd);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial nint readv(int fd, IoVector* vectors, int count);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial nint send(int fd, byte* buffer, nint length, int flags);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial nint sendmsg(int fd, MessageHeader* message, int flags);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial nint read(int fd, void* buffer, nint count);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial nint write(int fd, void* buffer, nint count);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int fcntl(int fd, int command, int argument);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int epoll_create1(int flags);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int epoll_ctl(int epollFd, int operation, int fd, byte* epollEvent);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int epoll_wait(int epollFd, byte* events, int maxEvents, int timeoutMilliseconds);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int eventfd(uint initialValue, int flags);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int getrlimit(int resource, ResourceLimit* limit);

    [StructLayout(LayoutKind.Sequential)]
    internal struct ResourceLimit
    {
        public ulong Current;
        public ulong Maximum;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct IoVector
    {
        public void* Base;
        public nuint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct MessageHeader
    {
        public void* Name;
        public uint NameLength;
        public IoVector* Vectors;
        public nuint VectorCount;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }
}
