using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Xunit;
using Xunit.Abstractions;

namespace DemoWeb.Tests;

/// <summary>
/// A real descriptor exhaustion: DemoWeb started under <c>prlimit --nofile=512:512</c> (it opens about 190 descriptors of its own: the runtime keeps every loaded assembly open) and flooded with
/// more connections than it has descriptors. It must stay alive (the .NET runtime aborts when it has no
/// descriptor at all), refuse the excess at once, not spin while saturated, and serve again by itself.
/// </summary>
public class DescriptorLimitTests(ITestOutputHelper output)
{
    private const int Limit = 512;
    private const int Flood = 700;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private static readonly byte[] Request = Encoding.ASCII.GetBytes("GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n");

    private enum Outcome
    {
        Served,
        Refused,
    }

    [Fact]
    public async Task AFloodPastTheDescriptorLimitIsRefusedAtOnceWithoutSpinningAndServingResumesAfterwards()
    {
        using var demo = await DemoProcess.StartAsync(
            ["--urls", "http://127.0.0.1:0", "--echo-port", "0", "--h2c-port", "0", "--threads", "1"],
            launcher: ["prlimit", $"--nofile={Limit}:{Limit}"]);
        Uri http = await demo.AddressAsync("http");
        var endPoint = new IPEndPoint(IPAddress.Loopback, http.Port);
        int baseline = demo.OpenDescriptors();

        var flood = new List<Socket>();
        try
        {
            // Every flood connection asks for a page: those admitted get it (and stay open, holding their
            // descriptor), the others must be reset rather than left waiting.
            for (int i = 0; i < Flood; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                flood.Add(socket);
                await ConnectAndRequestAsync(socket, endPoint);
            }
            Outcome[] outcomes = await Task.WhenAll(flood.Select(ReadOutcomeAsync)).WaitAsync(Timeout);
            int served = outcomes.Count(o => o == Outcome.Served);
            int refused = outcomes.Count(o => o == Outcome.Refused);
            output.WriteLine($"{baseline} descriptors open before the flood; of {Flood} connections {served} served and held, {refused} refused; {demo.OpenDescriptors()} descriptors open now (limit {Limit}).");
            Assert.True(served >= 100, $"only {served} of {Flood} were served");
            Assert.True(refused >= Flood - Limit, $"only {refused} were refused; {Flood - Limit} cannot have had a descriptor");
            Assert.True(demo.OpenDescriptors() <= Limit - 16, $"{demo.OpenDescriptors()} of {Limit} descriptors are open: the reserve was not kept");
            await demo.Output.WaitForAsync(l => l.Contains("reached the descriptor limit", StringComparison.Ordinal) && l.Contains($"of {Limit} descriptors", StringComparison.Ordinal), Timeout);

            // Saturated, with a client trying again every 100 ms: each try is refused within the pause,
            // and DemoWeb stays near idle instead of spinning on the listener. CPU is measured over the
            // second half, after the work the flood itself caused (the JIT compiling what the 280 served
            // requests ran, their logging) is done; a spinning loop would burn the whole of it.
            TimeSpan cpuBefore = TimeSpan.Zero;
            var clock = Stopwatch.StartNew();
            TimeSpan measuredFrom = TimeSpan.Zero;
            TimeSpan slowestRefusal = TimeSpan.Zero;
            while (clock.Elapsed < TimeSpan.FromSeconds(4))
            {
                if (measuredFrom == TimeSpan.Zero && clock.Elapsed >= TimeSpan.FromSeconds(2))
                {
                    measuredFrom = clock.Elapsed;
                    cpuBefore = demo.CpuTime();
                }
                using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                long started = Stopwatch.GetTimestamp();
                await ConnectAndRequestAsync(probe, endPoint);
                Assert.Equal(Outcome.Refused, await ReadOutcomeAsync(probe).WaitAsync(TimeSpan.FromSeconds(3)));
                TimeSpan took = Stopwatch.GetElapsedTime(started);
                slowestRefusal = took > slowestRefusal ? took : slowestRefusal;
                await Task.Delay(100);
            }
            TimeSpan cpu = demo.CpuTime() - cpuBefore;
            TimeSpan window = clock.Elapsed - measuredFrom;
            output.WriteLine($"Saturated: {cpu.TotalMilliseconds:F0} ms of CPU in the last {window.TotalSeconds:F1} s; slowest refusal {slowestRefusal.TotalMilliseconds:F0} ms.");
            Assert.True(cpu < TimeSpan.FromMilliseconds(300), $"DemoWeb used {cpu.TotalMilliseconds:F0} ms of CPU in {window.TotalSeconds:F1} s while saturated");
        }
        finally
        {
            foreach (Socket socket in flood)
            {
                socket.Dispose();
            }
        }

        // Descriptors free up as the flood goes: DemoWeb serves again by itself, within the pause.
        var recovery = Stopwatch.StartNew();
        while (true)
        {
            using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await ConnectAndRequestAsync(client, endPoint);
            if (await ReadOutcomeAsync(client).WaitAsync(TimeSpan.FromSeconds(3)) == Outcome.Served)
            {
                break;
            }
            Assert.True(recovery.Elapsed < TimeSpan.FromSeconds(5), "DemoWeb did not serve again within 5 s of the flood closing");
            await Task.Delay(50);
        }
        output.WriteLine($"Served again {recovery.ElapsedMilliseconds} ms after the flood closed.");
        Assert.DoesNotContain("Out of memory", demo.Output.Text);
    }

    /// <summary>
    /// Connects and sends the request. The server's reset can beat either step (on loopback it may even
    /// arrive before connect returns); then this returns quietly and <see cref="ReadOutcomeAsync"/>
    /// reports the connection refused.
    /// </summary>
    private static async Task ConnectAndRequestAsync(Socket socket, IPEndPoint endPoint)
    {
        try
        {
            await socket.ConnectAsync(endPoint);
            await socket.SendAsync(Request);
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.Shutdown or SocketError.ConnectionAborted)
        {
        }
    }

    /// <summary>A response's status line (served) or a reset or end without one (refused).</summary>
    private static async Task<Outcome> ReadOutcomeAsync(Socket socket)
    {
        byte[] buffer = new byte[1024];
        var received = new StringBuilder();
        if (!socket.Connected)
        {
            return Outcome.Refused;
        }
        try
        {
            while (true)
            {
                int read = await socket.ReceiveAsync(buffer);
                if (read == 0)
                {
                    return Outcome.Refused;
                }
                received.Append(Encoding.ASCII.GetString(buffer, 0, read));
                if (received.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
                {
                    Assert.StartsWith("HTTP/1.1 200", received.ToString());
                    return Outcome.Served;
                }
            }
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.Shutdown or SocketError.ConnectionAborted)
        {
            return Outcome.Refused;
        }
    }
}
