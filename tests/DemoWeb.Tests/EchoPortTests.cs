using System.Net.Sockets;
using System.Text;
using Xunit;

namespace DemoWeb.Tests;

public class EchoPortTests
{
    [Fact]
    public async Task EchoesEveryByteAndClosesAfterThePeerHalfCloses()
    {
        await using var server = await DemoServer.StartAsync();
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(server.Echo);

        await socket.SendAsync(Encoding.ASCII.GetBytes("ping 1\n"));
        Assert.Equal("ping 1\n", await ReadExactlyAsync(socket, 7));

        byte[] large = new byte[300_000];
        Random.Shared.NextBytes(large);
        await socket.SendAsync(large);
        socket.Shutdown(SocketShutdown.Send);
        byte[] rest = await ReadToEndAsync(socket);
        Assert.Equal(large, rest);
    }

    [Fact]
    public async Task UpperCaseModeUpperCasesAscii()
    {
        await using var server = await DemoServer.StartAsync("--echo-upper", "true");
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(server.Echo);
        await socket.SendAsync(Encoding.ASCII.GetBytes("Hello, epoll 123!"));
        socket.Shutdown(SocketShutdown.Send);
        Assert.Equal("HELLO, EPOLL 123!", Encoding.ASCII.GetString(await ReadToEndAsync(socket)));
    }

    private static async Task<string> ReadExactlyAsync(Socket socket, int count)
    {
        var buffer = new byte[count];
        int read = 0;
        while (read < count)
        {
            int n = await socket.ReceiveAsync(buffer.AsMemory(read)).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            Assert.NotEqual(0, n);
            read += n;
        }
        return Encoding.ASCII.GetString(buffer);
    }

    private static async Task<byte[]> ReadToEndAsync(Socket socket)
    {
        var received = new MemoryStream();
        var buffer = new byte[65536];
        int n;
        while ((n = await socket.ReceiveAsync(buffer.AsMemory()).AsTask().WaitAsync(TimeSpan.FromSeconds(10))) > 0)
        {
            received.Write(buffer, 0, n);
        }
        return received.ToArray();
    }
}
