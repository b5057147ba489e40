using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Xunit;
using Xunit.Abstractions;

namespace DemoWeb.Tests;

/// <summary>
/// Restarts that drop nothing, with two real DemoWeb processes under continuous load: a new process
/// takes over while the old one drains and exits, and no request fails. Once with an inherited
/// listening socket (what systemd socket activation or a supervisor does), once with SO_REUSEPORT.
/// </summary>
public class RestartTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData("epoll")]
    [InlineData("sockets")]
    public async Task ANewProcessTakesOverAnInheritedSocketWhileTheOldOneDrainsAndNoRequestFails(string transport)
    {
        // The supervisor's socket: it outlives both servers.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(512);
        int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        string[] args = ["--listen-fd", ((int)listener.Handle).ToString(System.Globalization.CultureInfo.InvariantCulture), "--urls", "http://127.0.0.1:0", "--echo-port", "-1", "--h2c-port", "-1", "--transport", transport];

        await RestartUnderLoadAsync(port, () => Interop.StartInheritingAsync(listener, () => DemoProcess.StartAsync(args)), $"{transport}, inherited socket");
    }

    /// <summary>Epoll only: Kestrel's Sockets transport has no SO_REUSEPORT option.</summary>
    [Fact]
    public async Task WithReusePortTheStoppingProcessDrainsItsQueueAndNoRequestFails()
    {
        int port = FreePort();
        string[] args = ["--urls", $"http://127.0.0.1:{port}", "--echo-port", "-1", "--h2c-port", "-1", "--EpollTransport:ReusePort=true"];

        await RestartUnderLoadAsync(port, () => DemoProcess.StartAsync(args), "epoll, SO_REUSEPORT");
    }

    private async Task RestartUnderLoadAsync(int port, Func<Task<DemoProcess>> start, string how)
    {
        using DemoProcess first = await start();
        await using var load = new ProcessLoad(port, workers: 4);
        string firstPid = await load.WaitForServedByAnyAsync(200, Timeout);

        using DemoProcess second = await start();
        string secondPid = await load.WaitForServedByOtherThanAsync(firstPid, 50, Timeout);

        await first.SignalAsync("TERM");
        await first.WaitForExitAsync(Timeout);
        Assert.Equal(0, first.ExitCode);
        long servedBySecondAtExit = load.ServedBy(secondPid);
        await load.WaitUntilAsync(() => load.ServedBy(secondPid) >= servedBySecondAtExit + 500, Timeout);

        (long ok, string[] failures) = await load.StopAsync();
        output.WriteLine($"{how}: {ok} requests, {load.ServedBy(firstPid)} by the old process, {load.ServedBy(secondPid)} by the new one, {failures.Length} failed.");
        Assert.True(failures.Length == 0, $"{failures.Length} request(s) failed across the restart; first: {failures.FirstOrDefault()}");
    }

    private static int FreePort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }

    /// <summary>
    /// Continuous GET /process from several clients whose connections live 100 ms each, so new
    /// connections keep arriving at the listening socket throughout; counts answers by process.
    /// </summary>
    private sealed class ProcessLoad : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly ConcurrentDictionary<string, long> _servedBy = new();
        private readonly ConcurrentQueue<string> _failures = new();
        private readonly Task[] _workers;
        private long _ok;

        public ProcessLoad(int port, int workers)
        {
            _workers = Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
            {
                using var client = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMilliseconds(100) })
                {
                    BaseAddress = new Uri($"http://127.0.0.1:{port}/"),
                    Timeout = TimeSpan.FromSeconds(10),
                };
                while (!_stop.IsCancellationRequested)
                {
                    try
                    {
                        string pid = await client.GetStringAsync("/process", _stop.Token);
                        _servedBy.AddOrUpdate(pid, 1, (_, n) => n + 1);
                        Interlocked.Increment(ref _ok);
                    }
                    catch (OperationCanceledException) when (_stop.IsCancellationRequested)
                    {
                    }
                    catch (Exception e)
                    {
                        _failures.Enqueue($"{e.GetType().Name}: {e.Message} {e.InnerException?.Message}");
                    }
                }
            })).ToArray();
        }

        public long ServedBy(string pid) => _servedBy.GetValueOrDefault(pid);

        public async Task<string> WaitForServedByAnyAsync(long count, TimeSpan timeout)
        {
            string? pid = null;
            await WaitUntilAsync(() => (pid = _servedBy.FirstOrDefault(p => p.Value >= count).Key) is not null, timeout);
            return pid!;
        }

        public async Task<string> WaitForServedByOtherThanAsync(string other, long count, TimeSpan timeout)
        {
            string? pid = null;
            await WaitUntilAsync(() => (pid = _servedBy.FirstOrDefault(p => p.Key != other && p.Value >= count).Key) is not null, timeout);
            return pid!;
        }

        public async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout)
        {
            var deadline = DateTime.UtcNow + timeout;
            while (!condition())
            {
                if (!_failures.IsEmpty || DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException($"load: {_ok} ok, served by {string.Join(", ", _servedBy.Select(p => $"{p.Key}: {p.Value}"))}; failures: {string.Join(" | ", _failures.Take(3))}");
                }
                await Task.Delay(20);
            }
        }

        public async Task<(long Ok, string[] Failures)> StopAsync()
        {
            await _stop.CancelAsync();
            await Task.WhenAll(_workers).WaitAsync(TimeSpan.FromSeconds(20));
            return (Interlocked.Read(ref _ok), _failures.ToArray());
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await Task.WhenAny(Task.WhenAll(_workers), Task.Delay(TimeSpan.FromSeconds(20)));
            _stop.Dispose();
        }
    }
}
