using System.Net;
using System.Net.Sockets;
using EpollTransport.Interop;

namespace EpollTransport.Micro;

/// <summary>
/// A connected TCP pair over 127.0.0.1, both ends non-blocking with TCP_NODELAY, as the transport's
/// connections are. The Interop layer has no <c>socketpair</c>/<c>connect</c> wrapper, and the benchmarks
/// must not declare P/Invokes of their own, so the pair is made with <see cref="Socket"/> and the
/// product wrappers run on its descriptors (<see cref="ClientFd"/>, <see cref="ServerFd"/>). The
/// <see cref="Socket"/> objects own the descriptors: <see cref="Dispose"/> closes both, exactly once.
/// </summary>
internal sealed class LoopbackPair : IDisposable
{
    private LoopbackPair(Socket client, Socket server)
    {
        Client = client;
        Server = server;
        ClientFd = new SocketFd((int)client.Handle);
        ServerFd = new SocketFd((int)server.Handle);
    }

    public Socket Client { get; }

    public Socket Server { get; }

    public SocketFd ClientFd { get; }

    public SocketFd ServerFd { get; }

    /// <param name="bufferSize">
    /// SO_SNDBUF and SO_RCVBUF for both ends. Fixed sizes switch off the kernel's buffer autotuning, which
    /// would otherwise change the number of partial sends from one iteration to the next.
    /// </param>
    public static LoopbackPair Create(int bufferSize)
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        // Set before listen/connect: accepted sockets inherit it, and the TCP window scale is fixed at the handshake.
        listener.ReceiveBufferSize = bufferSize;
        listener.SendBufferSize = bufferSize;
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);

        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        Socket? server = null;
        try
        {
            client.ReceiveBufferSize = bufferSize;
            client.SendBufferSize = bufferSize;
            client.Connect(listener.LocalEndPoint!);
            server = listener.Accept();
            foreach (Socket socket in new[] { client, server })
            {
                socket.NoDelay = true;
                // The loop's sockets are non-blocking; so are these, for the Socket.* comparisons too.
                socket.Blocking = false;
            }
            return new LoopbackPair(client, server);
        }
        catch
        {
            server?.Dispose();
            client.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        Client.Dispose();
        Server.Dispose();
    }
}
