using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Xunit;
using Xunit.Abstractions;

namespace DemoWeb.Tests;

/// <summary>
/// 10,000 concurrent connections on one box, half raw TCP echo and half HTTP keep-alive, all open at
/// once and each checked for its own bytes, twice. DemoWeb is the server (its own process, so each side
/// has its own descriptor limit); behind the stress switch.
/// </summary>
public class TenThousandConnectionsTests(ITestOutputHelper output)
{
    private const int Connections = 10_000;
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    [StressTheory]
    [Trait("Category", "Stress")]
    [InlineData("epoll", "threadpool")]
    [InlineData("epoll", "inline")]
    [InlineData("sockets", "threadpool")]
    public async Task TenThousandConcurrentConnectionsAreEachServedTheirOwnBytes(string transport, string scheduling)
    {
        string[] args = ["--urls", "http://127.0.0.1:0", "--echo-port", "0", "--h2c-port", "-1", "--transport", transport,
            "--Logging:LogLevel:Default=Warning", .. transport == "epoll" ? new[] { "--scheduling", scheduling } : []];
        using var demo = await DemoProcess.StartAsync(args);
        var http = new IPEndPoint(IPAddress.Loopback, (await demo.AddressAsync("http")).Port);
        var echo = new IPEndPoint(IPAddress.Loopback, (await demo.AddressAsync("echo")).Port);
        int descriptorsBefore = demo.OpenDescriptors();
        int socketsBefore = demo.OpenSockets();
        long rssBefore = ResidentKiB(demo.ProcessId);

        var sockets = new Socket[Connections];
        var clock = Stopwatch.StartNew();
        try
        {
            // Connect in bursts the listen backlog can take, so no SYN waits for a retransmit.
            for (int first = 0; first < Connections; first += 256)
            {
                await Task.WhenAll(Enumerable.Range(first, Math.Min(256, Connections - first)).Select(async i =>
                {
                    var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    sockets[i] = socket;
                    await socket.ConnectAsync(i % 2 == 0 ? echo : http);
                }));
            }
            TimeSpan connected = clock.Elapsed;
            for (int round = 0; round < 2; round++)
            {
                await Task.WhenAll(Enumerable.Range(0, Connections).Select(i => i % 2 == 0 ? EchoOnceAsync(sockets[i], i, round) : GetOnceAsync(sockets[i], i, round))).WaitAsync(Timeout);
            }
            int descriptorsDuring = demo.OpenDescriptors();
            long rssDuring = ResidentKiB(demo.ProcessId);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{transport} ({scheduling}): {Connections} connections open in {connected.TotalSeconds:F1} s, two rounds of checked exchanges done at {clock.Elapsed.TotalSeconds:F1} s; server descriptors {descriptorsBefore} -> {descriptorsDuring}, RSS {rssBefore / 1024} -> {rssDuring / 1024} MiB ({(rssDuring - rssBefore) / (double)Connections:F1} KiB per connection)."));
            Assert.True(descriptorsDuring >= descriptorsBefore + Connections, $"the server has {descriptorsDuring} descriptors open with {Connections} connections");
        }
        finally
        {
            foreach (Socket? socket in sockets)
            {
                socket?.Dispose();
            }
        }

        // Every connection's socket is released once the clients are gone (other descriptors may have
        // grown: the runtime keeps each assembly it loaded meanwhile open).
        var settle = Stopwatch.StartNew();
        while (demo.OpenSockets() > socketsBefore)
        {
            Assert.True(settle.Elapsed < TimeSpan.FromSeconds(30), $"{demo.OpenSockets()} sockets still open, {socketsBefore} before");
            await Task.Delay(100);
        }
        output.WriteLine($"sockets back to {socketsBefore} in {settle.ElapsedMilliseconds} ms.");
    }

    private static async Task EchoOnceAsync(Socket socket, int index, int round)
    {
        byte[] message = Encoding.ASCII.GetBytes($"{index:D5}/{round}|{new string((char)('a' + (index % 26)), 100)}\n");
        await socket.SendAsync(message);
        byte[] received = new byte[message.Length];
        int got = 0;
        while (got < received.Length)
        {
            int read = await socket.ReceiveAsync(received.AsMemory(got));
            Assert.True(read > 0, $"echo connection {index} ended after {got} bytes");
            got += read;
        }
        Assert.Equal(message, received);
    }

    private static async Task GetOnceAsync(Socket socket, int index, int round)
    {
        string expected = $"{index:D5}/{round}:ok";
        await socket.SendAsync(Encoding.ASCII.GetBytes($"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {expected.Length}\r\n\r\n{expected}"));
        var text = new StringBuilder();
        byte[] buffer = new byte[1024];
        while (!text.ToString().Contains(expected, StringComparison.Ordinal))
        {
            int read = await socket.ReceiveAsync(buffer);
            Assert.True(read > 0, $"HTTP connection {index} ended before its echo: {text}");
            text.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }
        Assert.StartsWith("HTTP/1.1 200", text.ToString());
    }

    private static long ResidentKiB(int pid)
    {
        string line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
    }
}
