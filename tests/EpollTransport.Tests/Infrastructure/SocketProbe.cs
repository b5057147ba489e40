using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;

namespace EpollTransport.Tests.Infrastructure;

/// <summary>
/// Looks at the server's side of a loopback connection from inside the test process (the server runs
/// in it): finds the accepted descriptor by its peer address and reads an option, and reads a listening
/// socket's accept queue from /proc/net. Read-only calls (getpeername, getsockopt) on descriptors the
/// transport owns, so they cannot disturb it.
/// </summary>
internal static class SocketProbe
{
    private const int IPPROTO_TCP = 6;
    private const int TCP_NODELAY = 1;
    private const int SOL_SOCKET = 1;
    private const int SO_REUSEPORT = 15;

    /// <summary>TCP_NODELAY of the server-side socket whose peer is <paramref name="clientEndPoint"/> (IPv4 loopback).</summary>
    public static bool ServerSideNoDelay(IPEndPoint clientEndPoint)
    {
        int fd = FindByPeer(clientEndPoint) ?? throw new InvalidOperationException($"No descriptor of this process is connected to {clientEndPoint}.");
        return GetIntOption(fd, IPPROTO_TCP, TCP_NODELAY) != 0;
    }

    /// <summary>SO_REUSEPORT of a socket of this process bound to the Unix socket file <paramref name="path"/>.</summary>
    public static bool? UnixListenerReusePort(string path)
    {
        string inode = UnixSocketInode(path) ?? throw new InvalidOperationException($"No listening Unix socket at {path}.");
        foreach (string entry in Directory.GetFileSystemEntries("/proc/self/fd"))
        {
            if (SafeLinkTarget(entry) == $"socket:[{inode}]")
            {
                return GetIntOption(int.Parse(Path.GetFileName(entry), CultureInfo.InvariantCulture), SOL_SOCKET, SO_REUSEPORT) != 0;
            }
        }
        return null;
    }

    /// <summary>
    /// How many established connections wait in the kernel's accept queue of the IPv4 listening socket on
    /// <paramref name="port"/> (the rx_queue column of a LISTEN row in /proc/net/tcp), or -1 if none listens.
    /// </summary>
    public static int KernelAcceptQueueLength(int port)
    {
        string portHex = port.ToString("X4", CultureInfo.InvariantCulture);
        foreach (string line in File.ReadLines("/proc/net/tcp").Skip(1))
        {
            string[] fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            // sl local_address rem_address st tx_queue:rx_queue ...; state 0A is LISTEN.
            if (fields.Length > 4 && fields[1].EndsWith(":" + portHex, StringComparison.Ordinal) && fields[3] == "0A")
            {
                return int.Parse(fields[4].Split(':')[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            }
        }
        return -1;
    }

    /// <summary>The server-side descriptor whose peer is <paramref name="clientEndPoint"/> (IPv4 loopback).</summary>
    public static int ServerSideDescriptor(IPEndPoint clientEndPoint)
        => FindByPeer(clientEndPoint) ?? throw new InvalidOperationException($"No descriptor of this process is connected to {clientEndPoint}.");

    /// <summary>Whether <paramref name="fd"/> is an open descriptor of this process (fcntl F_GETFD succeeds).</summary>
    public static bool IsOpen(int fd) => fcntl(fd, 1, 0) >= 0;

    private static int? FindByPeer(IPEndPoint peer)
    {
        byte[] address = new byte[128];
        foreach (string entry in Directory.GetFileSystemEntries("/proc/self/fd"))
        {
            if (SafeLinkTarget(entry)?.StartsWith("socket:[", StringComparison.Ordinal) != true)
            {
                continue;
            }
            int fd = int.Parse(Path.GetFileName(entry), CultureInfo.InvariantCulture);
            int length = address.Length;
            if (getpeername(fd, address, ref length) != 0 || length < 8)
            {
                continue;
            }
            // sockaddr_in: family (2 bytes, host order), port (network order), IPv4 address.
            if (BitConverter.ToUInt16(address, 0) == 2
                && BinaryPrimitives.ReadUInt16BigEndian(address.AsSpan(2)) == peer.Port
                && new IPAddress(address.AsSpan(4, 4)).Equals(peer.Address))
            {
                return fd;
            }
        }
        return null;
    }

    private static string? UnixSocketInode(string path)
    {
        foreach (string line in File.ReadLines("/proc/net/unix").Skip(1))
        {
            string[] fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length >= 8 && fields[^1] == path)
            {
                return fields[6];
            }
        }
        return null;
    }

    private static string? SafeLinkTarget(string entry)
    {
        try
        {
            return new FileInfo(entry).LinkTarget;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static int GetIntOption(int fd, int level, int name)
    {
        int value = 0;
        int length = sizeof(int);
        if (getsockopt(fd, level, name, ref value, ref length) != 0)
        {
            throw new InvalidOperationException($"getsockopt({fd}, {level}, {name}) failed with errno {Marshal.GetLastPInvokeError()}.");
        }
        return value;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int fcntl(int fd, int command, int argument);

    [DllImport("libc", SetLastError = true)]
    private static extern int getpeername(int fd, byte[] address, ref int length);

    [DllImport("libc", SetLastError = true)]
    private static extern int getsockopt(int fd, int level, int name, ref int value, ref int length);
}
