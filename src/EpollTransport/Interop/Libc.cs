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
/// <c>syscall</c>, <c>getrlimit</c> (with its <see cref="ResourceLimit"/>), <c>poll</c> (with its
/// <see cref="PollDescriptor"/>) and <c>clock_gettime</c> (with its <see cref="TimeSpec"/>).
/// </summary>
internal static unsafe partial class Libc
{
    private const string LibraryName = "libc";

    // The syscall number of gettid: the kernel's numbering differs per architecture (x86-64 has its own
    // table; arm64 uses the generic one). -1: an architecture the transport is not built and tested for.
    private static readonly nint s_sysGettid = RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => 186,
        Architecture.Arm64 => 178,
        _ => -1,
    };

    // syscall(2) is variadic. Declared with one fixed argument, it is still called correctly on x86-64
    // and arm64 Linux: integer arguments go in the same registers either way, and the number is all we pass.
    [LibraryImport(LibraryName, EntryPoint = "syscall")]
    private static partial nint syscall0(nint number);

    /// <summary>
    /// The calling thread's kernel thread id. Not the glibc wrapper <c>gettid()</c>: that exists only
    /// since glibc 2.30, and on glibc 2.27 to 2.29, which .NET 10 supports (Ubuntu 18.04, Debian 10,
    /// RHEL 8 and its rebuilds), a loop would fail to start. The raw system call is in every libc; on an
    /// architecture whose number is not known here, the kernel's own answer is read from
    /// /proc/thread-self (a link to "PID/task/TID").
    /// </summary>
    internal static int gettid()
    {
        if (s_sysGettid >= 0)
        {
            return (int)syscall0(s_sysGettid);
        }
        string link = new FileInfo("/proc/thread-self").LinkTarget
            ?? throw new PlatformNotSupportedException("/proc/thread-self is not a link; is /proc mounted?");
        return int.Parse(link.AsSpan(link.LastIndexOf('/') + 1), System.Globalization.CultureInfo.InvariantCulture);
    }

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

    internal static int shutdown(int fd, int how) => TmdsLibC.shutdown(fd, how);

    internal static int close(int fd) => TmdsLibC.close(fd);

    internal static nint send(int fd, byte* buffer, nint length, int flags) => (nint)(long)TmdsLibC.send(fd, buffer, (size_t)(ulong)length, flags);

    internal static nint sendmsg(int fd, msghdr* message, int flags) => (nint)(long)TmdsLibC.sendmsg(fd, message, flags);

    internal static nint write(int fd, void* buffer, nint count) => (nint)(long)TmdsLibC.write(fd, buffer, (size_t)(ulong)count);

    internal static int fcntl(int fd, int command, int argument) => TmdsLibC.fcntl(fd, command, argument);

    internal static int epoll_create1(int flags) => TmdsLibC.epoll_create1(flags);

    // The event buffers are byte arrays in the kernel's epoll_event layout for the running architecture,
    // which Epoll picks: packed (12 bytes) on x86-64, naturally aligned (16 bytes) on arm64 and elsewhere.
    // The cast only passes the address on; Tmds.Linux.epoll_event's own size is never used.
    internal static int epoll_ctl(int epollFd, int operation, int fd, byte* epollEvent) => TmdsLibC.epoll_ctl(epollFd, operation, fd, (epoll_event*)epollEvent);

    internal static int epoll_wait(int epollFd, byte* events, int maxEvents, int timeoutMilliseconds) => TmdsLibC.epoll_wait(epollFd, (epoll_event*)events, maxEvents, timeoutMilliseconds);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int poll(PollDescriptor* descriptors, nuint count, int timeoutMilliseconds);

    internal static int eventfd(uint initialValue, int flags) => TmdsLibC.eventfd(initialValue, flags);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int clock_gettime(int clockId, TimeSpec* time);

    /// <summary>struct timespec on 64-bit Linux (the only kind the transport is built for).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct ResourceLimit
    {
        public ulong Current;
        public ulong Maximum;
    }
}

/// <summary>struct pollfd: the same layout on every Linux architecture.</summary>
internal struct PollDescriptor
{
    public int Fd;
    public short Events;
    public short ReturnedEvents;
}
