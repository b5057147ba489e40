using System.Net;
using System.Net.Sockets;
using System.Text;
using Xunit;

namespace DemoWeb.Tests;

/// <summary>DemoWeb as a real process: a signal lets the request in flight finish, then it exits 0.</summary>
public class GracefulShutdownTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Theory]
    [InlineData("INT")]
    [InlineData("TERM")]
    public async Task ASignalFinishesTheRequestInFlightAndExitsZero(string signal)
    {
        // The URL comes from ASPNETCORE_URLS, as a container or service unit would set it.
        using var demo = await DemoProcess.StartAsync(
            ["--echo-port", "0", "--h2c-port", "0", "--threads", "2"],
            new Dictionary<string, string> { ["ASPNETCORE_URLS"] = "http://127.0.0.1:0" });
        Assert.Contains("DemoWeb transport: epoll (2 loops, thread-pool scheduling, inline when quiet)", demo.Output.Text);
        Uri http = await demo.AddressAsync("http");
        Assert.Equal("127.0.0.1", http.Host);

        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, http.Port);
        await socket.SendAsync(Encoding.ASCII.GetBytes("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nfirst"));
        string head = await ReceiveUntilAsync(socket, "first");
        Assert.StartsWith("HTTP/1.1 200", head);

        // The handler is mid-request: it has echoed the first half and waits for the rest.
        await demo.SignalAsync(signal);
        await demo.Output.WaitForAsync(l => l.Contains("Application is shutting down", StringComparison.Ordinal), Timeout);

        await socket.SendAsync(Encoding.ASCII.GetBytes("_last"));
        string rest = await ReceiveUntilAsync(socket, "_last");
        Assert.EndsWith("_last", rest);

        await demo.WaitForExitAsync(Timeout);
        Assert.Equal(0, demo.ExitCode);
    }

    private static async Task<string> ReceiveUntilAsync(Socket socket, string marker)
    {
        var text = new StringBuilder();
        var buffer = new byte[4096];
        while (!text.ToString().EndsWith(marker, StringComparison.Ordinal))
        {
            int n = await socket.ReceiveAsync(buffer.AsMemory()).AsTask().WaitAsync(Timeout);
            Assert.True(n > 0, $"The connection closed before '{marker}' arrived; got: {text}");
            text.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }
        return text.ToString();
    }
}
