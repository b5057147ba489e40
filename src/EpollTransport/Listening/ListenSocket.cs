using System.Net;
using System.Net.Sockets;
using EpollTransport.Interop;
using Microsoft.AspNetCore.Connections;
using static EpollTransport.Interop.LinuxConstants;

namespace EpollTransport.Listening;

/// <summary>A bound, listening socket: created here for IP and Unix endpoints, or adopted from an inherited fd.</summary>
internal sealed class ListenSocket : IDisposable
{
    private readonly SafeFdHandle _handle;
    private readonly string? _unixSocketPath;
    private readonly IPAddress? _boundAddress;

    private ListenSocket(SafeFdHandle handle, EndPoint endPoint, string? unixSocketPath, bool owned = true)
    {
        _handle = handle;
        IsOwned = owned;
        EndPoint = endPoint;
        _unixSocketPath = unixSocketPath;
        if (endPoint is IPEndPoint ip)
        {
            _boundAddress = ip.Address;
            IsWildcard = ip.Address.Equals(IPAddress.Any) || ip.Address.Equals(IPAddress.IPv6Any);
        }
    }

    public SocketFd Fd => new(_handle.Fd);

    /// <summary>Created here (and closed here), as opposed to adopted from an inherited fd that stays the caller's.</summary>
    public bool IsOwned { get; }

    /// <summary>The endpoint actually bound (the kernel's port when port 0 was asked for).</summary>
    public EndPoint EndPoint { get; }

    /// <summary>Bound to 0.0.0.0 or [::], so each connection's local address must be asked of the kernel.</summary>
    public bool IsWildcard { get; }

    /// <summary>Creates, configures, binds and listens. Throws <see cref="AddressInUseException"/> for EADDRINUSE.</summary>
    public static ListenSocket Bind(EndPoint endPoint, TransportSettings settings, bool reusePort)
    {
        int family = endPoint switch
        {
            IPEndPoint ip => SocketAddressCodec.Family(ip.AddressFamily),
            UnixDomainSocketEndPoint => AF_UNIX,
            _ => throw new NotSupportedException($"The epoll transport cannot bind {endPoint} ({endPoint.GetType().Name})."),
        };

        SocketFd fd = SocketFd.Create(family, out Errno errno);
        if (!fd.IsValid)
        {
            throw errno.ToSocketException($"Creating a socket for {endPoint}");
        }

        var handle = new SafeFdHandle(fd.Value);
        try
        {
            if (endPoint is IPEndPoint ipEndPoint)
            {
                // Lets a restarted server bind at once while old connections sit in TIME_WAIT.
                Check(fd.SetOption(SOL_SOCKET, SO_REUSEADDR, 1), "setsockopt(SO_REUSEADDR)", endPoint);
                if (family == AF_INET6)
                {
                    // [::] serves IPv4 too (one dual-stack socket, as Kestrel's ListenAnyIP expects); any
                    // other IPv6 address must not also claim the IPv4 port, or binding 127.0.0.1 and [::1]
                    // on one port (localhost) would collide.
                    int v6Only = ipEndPoint.Address.Equals(IPAddress.IPv6Any) ? 0 : 1;
                    Check(fd.SetOption(IPPROTO_IPV6, IPV6_V6ONLY, v6Only), "setsockopt(IPV6_V6ONLY)", endPoint);
                }
                if (settings.NoDelay)
                {
                    // Linux copies TCP_NODELAY from the listening socket to every accepted socket,
                    // which saves a setsockopt per connection.
                    Check(fd.SetOption(IPPROTO_TCP, TCP_NODELAY, 1), "setsockopt(TCP_NODELAY)", endPoint);
                }
            }
            if (reusePort)
            {
                Check(fd.SetOption(SOL_SOCKET, SO_REUSEPORT, 1), "setsockopt(SO_REUSEPORT)", endPoint);
            }

            Span<byte> address = stackalloc byte[SocketAddressCodec.MaxSize];
            int length = SocketAddressCodec.Encode(endPoint, address);
            Check(fd.Bind(address[..length]), "bind", endPoint);
            Check(fd.Listen(settings.Backlog), "listen", endPoint);

            EndPoint bound = endPoint is IPEndPoint ? fd.GetLocalEndPoint() ?? endPoint : endPoint;
            string? path = endPoint is UnixDomainSocketEndPoint ? UnixSocketPath(endPoint) : null;
            return new ListenSocket(handle, bound, path);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Adopts an inherited listening (or bound) socket, e.g. from systemd socket activation. The fd stays
    /// the caller's: it is not closed on dispose, as with the Sockets transport.
    /// </summary>
    public static ListenSocket Adopt(FileHandleEndPoint endPoint, TransportSettings settings)
    {
        if (endPoint.FileHandle > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(endPoint), endPoint.FileHandle, $"File handle {endPoint.FileHandle} is not a valid descriptor.");
        }
        var fd = new SocketFd((int)endPoint.FileHandle);
        Check(fd.GetOption(SOL_SOCKET, SO_TYPE, out int type), "getsockopt(SO_TYPE)", endPoint);
        if (type != SOCK_STREAM)
        {
            throw new NotSupportedException($"File handle {endPoint.FileHandle} is not a stream socket (SO_TYPE {type}).");
        }
        // accept4 on a blocking listening socket would stall the loop thread.
        Check(fd.SetNonBlocking(), "fcntl(O_NONBLOCK)", endPoint);
        if (settings.NoDelay)
        {
            // Accepted sockets inherit TCP_NODELAY from the listening socket, and one we did not create
            // has Nagle on (systemd sets no such option): without this, a response flushed in several
            // small writes waits for the peer's delayed ACK. A Unix domain socket refuses the option
            // (EOPNOTSUPP), which is fine: it has no Nagle to turn off.
            _ = fd.SetOption(IPPROTO_TCP, TCP_NODELAY, 1);
        }
        // A socket that already listens keeps its owner's backlog (systemd's Backlog=, a supervisor's
        // choice, or another process serving the same queue); only a socket that is merely bound is
        // made to listen here.
        Check(fd.GetOption(SOL_SOCKET, SO_ACCEPTCONN, out int listening), "getsockopt(SO_ACCEPTCONN)", endPoint);
        if (listening == 0)
        {
            Check(fd.Listen(settings.Backlog), "listen", endPoint);
        }
        EndPoint bound = fd.GetLocalEndPoint() ?? endPoint;
        return new ListenSocket(new SafeFdHandle(fd.Value, ownsHandle: false), bound, unixSocketPath: null, owned: false);
    }

    /// <summary>
    /// The first step of closing gracefully: a backlog of 0 lets the kernel queue at most one more
    /// connection here (SYNs beyond it are dropped, and their clients retransmit about a second later,
    /// by when the socket is closed and another socket of the port's SO_REUSEPORT group, or a restarted
    /// server, takes them), so the drain that follows has little left to race with. It does not close
    /// the window entirely: a connection that completes between the last accept and the close is still
    /// reset, which only the kernel can prevent (net.ipv4.tcp_migrate_req=1). Only for sockets created
    /// here: an inherited socket is shared with the process that takes over, which needs its backlog.
    /// </summary>
    public void StopQueueing()
    {
        if (IsOwned)
        {
            // Best effort: on failure the close below resets the queue, as it would have anyway.
            _ = Fd.Listen(0);
        }
    }

    /// <summary>A fresh local endpoint for a connection accepted on a non-wildcard address.</summary>
    public EndPoint LocalEndPointForConnection() => EndPoint is IPEndPoint ip ? new IPEndPoint(_boundAddress!, ip.Port) : EndPoint;

    public void Dispose()
    {
        _handle.Dispose();
        if (_unixSocketPath is not null)
        {
            // Like Socket.Dispose: the socket file goes with the listener.
            try
            {
                File.Delete(_unixSocketPath);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }

    private static string? UnixSocketPath(EndPoint endPoint)
    {
        string path = endPoint.ToString() ?? string.Empty;
        // Abstract-namespace sockets have no file. A relative path is resolved now, against the working
        // directory the kernel resolved it against in bind(2), so the file removed at unbind is the one
        // that was bound even if the application changes directory in between.
        return path.Length == 0 || path[0] is '@' or '\0' ? null : Path.GetFullPath(path);
    }

    private static void Check(Errno errno, string operation, EndPoint endPoint)
    {
        if (errno == Errno.None)
        {
            return;
        }
        if (errno == Errno.EADDRINUSE)
        {
            throw new AddressInUseException($"Failed to bind to {endPoint}: the address is already in use ({errno.Name}).",
                errno.ToSocketException(operation));
        }
        throw errno.ToSocketException($"{operation} on {endPoint}");
    }
}
