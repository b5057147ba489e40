using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace EpollTransport.Interop;

/// <summary>
/// Converts between <see cref="EndPoint"/>s and Linux <c>sockaddr</c> bytes (<c>sockaddr_in</c>,
/// <c>sockaddr_in6</c>, <c>sockaddr_un</c>).
/// </summary>
internal static class SocketAddressCodec
{
    /// <summary>Large enough for any sockaddr the transport handles (sizeof(sockaddr_storage)).</summary>
    public const int MaxSize = 128;

    public static int Family(AddressFamily family) => family switch
    {
        AddressFamily.InterNetwork => LinuxConstants.AF_INET,
        AddressFamily.InterNetworkV6 => LinuxConstants.AF_INET6,
        AddressFamily.Unix => LinuxConstants.AF_UNIX,
        _ => throw new NotSupportedException($"Address family {family} is not supported by the epoll transport."),
    };

    /// <summary>Writes <paramref name="endPoint"/> as a sockaddr into <paramref name="destination"/>; returns its length.</summary>
    public static int Encode(EndPoint endPoint, Span<byte> destination)
    {
        // On Linux, SocketAddress holds exactly the native sockaddr bytes, scope id and all.
        SocketAddress address = endPoint.Serialize();
        address.Buffer.Span[..address.Size].CopyTo(destination);
        return address.Size;
    }

    /// <summary>
    /// Reads a sockaddr produced by the kernel; AF_UNIX peers are usually unnamed and decode to an
    /// empty <see cref="UnixDomainSocketEndPoint"/>, as with <see cref="Socket.RemoteEndPoint"/>.
    /// </summary>
    public static EndPoint? Decode(ReadOnlySpan<byte> source)
    {
        if (source.Length < 2)
        {
            return null;
        }

        int family = BitConverter.IsLittleEndian ? source[0] | (source[1] << 8) : (source[0] << 8) | source[1];
        switch (family)
        {
            case LinuxConstants.AF_INET when source.Length >= 8:
                {
                    int port = BinaryPrimitives.ReadUInt16BigEndian(source[2..]);
                    return new IPEndPoint(new IPAddress(source.Slice(4, 4)), port);
                }
            case LinuxConstants.AF_INET6 when source.Length >= 28:
                {
                    int port = BinaryPrimitives.ReadUInt16BigEndian(source[2..]);
                    uint scopeId = BitConverter.ToUInt32(source.Slice(24, 4));
                    return new IPEndPoint(new IPAddress(source.Slice(8, 16), scopeId), port);
                }
            case LinuxConstants.AF_UNIX:
                {
                    var socketAddress = new SocketAddress(AddressFamily.Unix, source.Length);
                    source.CopyTo(socketAddress.Buffer.Span);
                    return UnixTemplate.Create(socketAddress);
                }
            default:
                return null;
        }
    }

    private static readonly UnixDomainSocketEndPoint UnixTemplate = new("/");
}
