using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace EpollTransport.Interop;

/// <summary>A Linux <c>errno</c> value, with the names and classifications the transport needs.</summary>
internal readonly record struct Errno(int Value)
{
    public static readonly Errno None = new(0);
    public static readonly Errno EINTR = new(4);
    public static readonly Errno EAGAIN = new(11);
    public static readonly Errno ENOMEM = new(12);
    public static readonly Errno ENFILE = new(23);
    public static readonly Errno EMFILE = new(24);
    public static readonly Errno EADDRINUSE = new(98);
    public static readonly Errno ECONNABORTED = new(103);
    public static readonly Errno ENOBUFS = new(105);

    /// <summary>The errno left by the last <see cref="Libc"/> call on this thread.</summary>
    public static Errno Last => new(Marshal.GetLastPInvokeError());

    public string Name => Value switch
    {
        0 => "OK",
        1 => "EPERM",
        2 => "ENOENT",
        4 => "EINTR",
        9 => "EBADF",
        11 => "EAGAIN",
        12 => "ENOMEM",
        13 => "EACCES",
        22 => "EINVAL",
        23 => "ENFILE",
        24 => "EMFILE",
        32 => "EPIPE",
        64 => "ENONET",
        71 => "EPROTO",
        88 => "ENOTSOCK",
        92 => "ENOPROTOOPT",
        93 => "EPROTONOSUPPORT",
        95 => "EOPNOTSUPP",
        97 => "EAFNOSUPPORT",
        98 => "EADDRINUSE",
        99 => "EADDRNOTAVAIL",
        100 => "ENETDOWN",
        101 => "ENETUNREACH",
        103 => "ECONNABORTED",
        104 => "ECONNRESET",
        105 => "ENOBUFS",
        107 => "ENOTCONN",
        110 => "ETIMEDOUT",
        111 => "ECONNREFUSED",
        112 => "EHOSTDOWN",
        113 => "EHOSTUNREACH",
        _ => "errno " + Value,
    };

    /// <summary>The peer reset the connection or it is otherwise gone for writing.</summary>
    public bool IsConnectionReset => Value is 104 or 32;

    /// <summary>
    /// accept4 errors that concern one pending connection only (accept(2) says to retry them),
    /// not the listening socket.
    /// </summary>
    public bool IsTransientAcceptError => Value is 4 or 103 or 71 or 92 or 112 or 64 or 113 or 95 or 101 or 100 or 1;

    /// <summary>accept4 errors caused by running out of descriptors or kernel memory.</summary>
    public bool IsResourceExhaustion => Value is 24 or 23 or 105 or 12;

    public SocketError ToSocketError() => Value switch
    {
        0 => SocketError.Success,
        1 or 13 => SocketError.AccessDenied,
        4 => SocketError.Interrupted,
        9 or 88 => SocketError.NotSocket,
        11 => SocketError.WouldBlock,
        12 or 105 => SocketError.NoBufferSpaceAvailable,
        22 => SocketError.InvalidArgument,
        23 or 24 => SocketError.TooManyOpenSockets,
        32 => SocketError.Shutdown,
        92 => SocketError.ProtocolOption,
        93 => SocketError.ProtocolNotSupported,
        95 => SocketError.OperationNotSupported,
        97 => SocketError.AddressFamilyNotSupported,
        98 => SocketError.AddressAlreadyInUse,
        99 => SocketError.AddressNotAvailable,
        100 => SocketError.NetworkDown,
        101 => SocketError.NetworkUnreachable,
        103 => SocketError.ConnectionAborted,
        104 => SocketError.ConnectionReset,
        107 => SocketError.NotConnected,
        110 => SocketError.TimedOut,
        111 => SocketError.ConnectionRefused,
        112 => SocketError.HostDown,
        113 => SocketError.HostUnreachable,
        _ => SocketError.SocketError,
    };

    /// <summary>A <see cref="SocketException"/> whose message names this errno and what was being done.</summary>
    public SocketException ToSocketException(string operation)
        => new((int)ToSocketError(), $"{operation} failed with {Name} ({Value}).");

    public override string ToString() => Name;
}
