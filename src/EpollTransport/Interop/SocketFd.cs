using Tmds.Linux;
using System.Net;
using System.Runtime.InteropServices;
using static EpollTransport.Interop.LinuxConstants;

namespace EpollTransport.Interop;

/// <summary>
/// A socket descriptor and the calls made on it. It is a plain value: the owner (one loop thread for a
/// connection, the listener for a listening socket) decides when <see cref="Close"/> runs, exactly once.
/// </summary>
internal readonly unsafe struct SocketFd(int value)
{
    public static SocketFd Invalid => new(-1);

    public int Value { get; } = value;

    public bool IsValid => Value >= 0;

    public static SocketFd Create(int family, out Errno errno)
    {
        int fd = Libc.socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        errno = fd < 0 ? Errno.Last : Errno.None;
        return new SocketFd(fd);
    }

    public Errno SetOption(int level, int name, int value)
        => Libc.setsockopt(Value, level, name, &value, sizeof(int)) == 0 ? Errno.None : Errno.Last;

    public Errno GetOption(int level, int name, out int value)
    {
        int result = 0;
        int length = sizeof(int);
        Errno errno = Libc.getsockopt(Value, level, name, &result, &length) == 0 ? Errno.None : Errno.Last;
        value = result;
        return errno;
    }

    /// <summary>
    /// Makes the next <see cref="Close"/> abortive: the kernel discards unsent data and sends RST.
    /// </summary>
    public Errno SetLingerZero()
    {
        FdOwnership.Check(Value, "setsockopt(SO_LINGER)");
        Linger linger = new() { OnOff = 1, Seconds = 0 };
        return Libc.setsockopt(Value, SOL_SOCKET, SO_LINGER, &linger, sizeof(Linger)) == 0 ? Errno.None : Errno.Last;
    }

    public Errno Bind(ReadOnlySpan<byte> socketAddress)
    {
        fixed (byte* address = socketAddress)
        {
            return Libc.bind(Value, address, socketAddress.Length) == 0 ? Errno.None : Errno.Last;
        }
    }

    public Errno Listen(int backlog) => Libc.listen(Value, backlog) == 0 ? Errno.None : Errno.Last;

    public Errno SetNonBlocking()
    {
        int flags = Libc.fcntl(Value, F_GETFL, 0);
        if (flags < 0)
        {
            return Errno.Last;
        }
        return (flags & O_NONBLOCK) != 0 || Libc.fcntl(Value, F_SETFL, flags | O_NONBLOCK) == 0 ? Errno.None : Errno.Last;
    }

    public EndPoint? GetLocalEndPoint()
    {
        byte* buffer = stackalloc byte[SocketAddressCodec.MaxSize];
        int length = SocketAddressCodec.MaxSize;
        if (Libc.getsockname(Value, buffer, &length) != 0)
        {
            return null;
        }
        return SocketAddressCodec.Decode(new ReadOnlySpan<byte>(buffer, Math.Min(length, SocketAddressCodec.MaxSize)));
    }

    /// <summary>
    /// Accepts one pending connection as a non-blocking, close-on-exec socket. The peer's sockaddr is
    /// written to <paramref name="peerAddress"/> and its length to <paramref name="peerAddressLength"/>.
    /// </summary>
    public SocketFd Accept(Span<byte> peerAddress, out int peerAddressLength, out Errno errno)
    {
        int length = peerAddress.Length;
        int fd;
        fixed (byte* address = peerAddress)
        {
            fd = Libc.accept4(Value, address, &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
        }
        errno = fd < 0 ? Errno.Last : Errno.None;
        peerAddressLength = Math.Min(length, peerAddress.Length);
        return new SocketFd(fd);
    }

    /// <summary>
    /// One <c>readv</c> into <paramref name="first"/> and then <paramref name="second"/>. Returns the
    /// byte count, 0 at end of stream, or -1 with <paramref name="errno"/> set.
    /// </summary>
    public nint Receive(Span<byte> first, Span<byte> second, out Errno errno)
    {
        FdOwnership.Check(Value, "readv");
        fixed (byte* firstPointer = first)
        fixed (byte* secondPointer = second)
        {
            iovec* vectors = stackalloc iovec[2];
            vectors[0] = new iovec { iov_base = firstPointer, iov_len = first.Length };
            vectors[1] = new iovec { iov_base = secondPointer, iov_len = second.Length };
            nint received;
            do
            {
                received = Libc.readv(Value, vectors, second.IsEmpty ? 1 : 2);
                errno = received < 0 ? Errno.Last : Errno.None;
            }
            while (received < 0 && errno == Errno.EINTR);
            return received;
        }
    }

    /// <summary>One <c>send</c> with <c>MSG_NOSIGNAL</c>; -1 with <paramref name="errno"/> set on failure.</summary>
    public nint Send(ReadOnlySpan<byte> buffer, out Errno errno)
    {
        FdOwnership.CheckSend(Value, "send");
        fixed (byte* pointer = buffer)
        {
            nint sent;
            do
            {
                sent = Libc.send(Value, pointer, buffer.Length, MSG_NOSIGNAL);
                errno = sent < 0 ? Errno.Last : Errno.None;
            }
            while (sent < 0 && errno == Errno.EINTR);
            return sent;
        }
    }

    public Errno Shutdown(int how)
    {
        FdOwnership.Check(Value, "shutdown");
        return Libc.shutdown(Value, how) == 0 ? Errno.None : Errno.Last;
    }

    public void Close()
    {
        FdOwnership.CheckClose(Value);
        IFdOwner? owner = FdOwnership.OwnerOf(Value);
        Libc.close(Value);
        FdOwnership.Released(Value, owner);
    }

    public override string ToString() => Value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    [StructLayout(LayoutKind.Sequential)]
    private struct Linger
    {
        public int OnOff;
        public int Seconds;
    }
}
