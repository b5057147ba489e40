using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Xunit;

namespace DemoWeb.Tests;

/// <summary>DemoWeb as a real process: Ctrl+C (SIGINT) lets the request in flight finish, then it exits 0.</summary>
public class GracefulShutdownTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task CtrlCFinishesTheRequestInFlightAndExitsZero()
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "DemoWeb.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in new[] { dll, "--urls", "http://127.0.0.1:0", "--echo-port", "0", "--h2c-port", "0" })
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start)!;
        var lines = new LineWatcher(process.StandardOutput);
        try
        {
            string http = await lines.WaitForAsync(l => l.StartsWith("DemoWeb http: ", StringComparison.Ordinal), Timeout);
            int port = new Uri(http["DemoWeb http: ".Length..]).Port;

            using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(IPAddress.Loopback, port);
            await socket.SendAsync(Encoding.ASCII.GetBytes("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nfirst"));
            string head = await ReceiveUntilAsync(socket, "first");
            Assert.StartsWith("HTTP/1.1 200", head);

            // The handler is mid-request (it echoed the first half). Now Ctrl+C.
            using (var kill = Process.Start("kill", ["-INT", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync();
            }
            await lines.WaitForAsync(l => l.Contains("Application is shutting down", StringComparison.Ordinal), Timeout);

            await socket.SendAsync(Encoding.ASCII.GetBytes("_last"));
            string rest = await ReceiveUntilAsync(socket, "_last");
            Assert.EndsWith("_last", rest);

            await process.WaitForExitAsync().WaitAsync(Timeout);
            Assert.Equal(0, process.ExitCode);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
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

    /// <summary>Reads a process's output in the background and lets a test wait for a line.</summary>
    private sealed class LineWatcher
    {
        private readonly List<string> _lines = new();
        private readonly SemaphoreSlim _changed = new(0);

        public LineWatcher(StreamReader reader)
        {
            _ = Task.Run(async () =>
            {
                while (await reader.ReadLineAsync() is { } line)
                {
                    lock (_lines)
                    {
                        _lines.Add(line);
                    }
                    _changed.Release();
                }
            });
        }

        public async Task<string> WaitForAsync(Func<string, bool> match, TimeSpan timeout)
        {
            using var cts = new CancellationTokenSource(timeout);
            while (true)
            {
                lock (_lines)
                {
                    if (_lines.FirstOrDefault(match) is { } found)
                    {
                        return found;
                    }
                }
                try
                {
                    await _changed.WaitAsync(cts.Token);
                }
                catch (OperationCanceledException)
                {
                    lock (_lines)
                    {
                        throw new TimeoutException("Expected line not printed. Output so far:\n" + string.Join('\n', _lines));
                    }
                }
            }
        }
    }
}
