using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace EpollTransport.Perf;

/// <summary>
/// DemoWeb as a child process on dynamic loopback ports, so its CPU time and memory can be read from
/// /proc without the load generators in the sum. Stopped with SIGTERM (graceful), killed if that takes
/// longer than a deadline.
/// </summary>
internal sealed class DemoServerProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartDeadline = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan StopDeadline = TimeSpan.FromSeconds(15);
    private static readonly Lazy<long> s_ticksPerSecond = new(() =>
        long.Parse(Processes.RunAsync("getconf", ["CLK_TCK"], TimeSpan.FromSeconds(10), CancellationToken.None).GetAwaiter().GetResult().Trim(), CultureInfo.InvariantCulture));

    /// <summary>
    /// What every configuration's server gets, so that a sample measures the code the server runs for
    /// the rest of its life. The runtime starts counting calls for tier-up only after 100 ms without a
    /// new Tier-0 method, and under load a busy server keeps meeting new ones (timers, the date header,
    /// a first error path), so that delay kept being re-armed: on a dedicated core plaintext ran at
    /// 15–25k req/s for 15–30 s and then jumped to 45–60k within one second, while the tiered-compilation
    /// thread sat idle the whole time, so <see cref="Warmup"/> called the JIT settled and measured
    /// pre-Tier-1 code (whichever configuration tiered up earlier won the row). With the delay at 0
    /// tier-up is over within 3–5 s in every configuration, the warm-up sees it happen, and the
    /// steady-state code is the same (the delay changes when call counting starts, not what is compiled).
    /// </summary>
    internal static readonly (string Name, string Value)[] RuntimeEnvironment = [("DOTNET_TC_CallCountingDelayMs", "0")];

    /// <summary><see cref="RuntimeEnvironment"/> as NAME=VALUE, for the results.</summary>
    internal static string[] RuntimeEnvironmentText => RuntimeEnvironment.Select(e => $"{e.Name}={e.Value}").ToArray();

    private readonly Process _process;
    private readonly StringBuilder _errors;

    private DemoServerProcess(Process process, StringBuilder errors, CorePlacement placement, IReadOnlyList<string> extraArguments)
    {
        _process = process;
        _errors = errors;
        Placement = placement;
        ExtraArguments = extraArguments;
    }

    public int ProcessId => _process.Id;

    /// <summary>The CPUs the server runs on, and so where load generators against it are started.</summary>
    public CorePlacement Placement { get; }

    public int HttpPort { get; private set; }

    public int EchoPort { get; private set; }

    public int H2cPort { get; private set; }

    /// <summary>TLS with HTTP/2 and HTTP/1.1 over ALPN, on DemoWeb's certificate made in memory.</summary>
    public int HttpsPort { get; private set; }

    /// <summary>The switches the server got beyond its configuration's (<see cref="Scenario.ServerArguments"/>).</summary>
    public IReadOnlyList<string> ExtraArguments { get; }

    /// <summary>
    /// Starts DemoWeb in <paramref name="configuration"/>, pinned as <paramref name="placement"/> says
    /// (taskset execs dotnet, so the process id, and with it /proc, stays the server's), with
    /// <paramref name="extraArguments"/> after the configuration's. Every server has HTTPS on, so the TLS
    /// scenarios compare every configuration alike; the other scenarios never touch its port. A
    /// configuration with a <see cref="ServerConfiguration.NativeServer"/> runs that C program instead,
    /// built first if need be, which prints its one port as DemoWeb does.
    /// </summary>
    public static async Task<DemoServerProcess> StartAsync(string demoWebDll, ServerConfiguration configuration, string appLogLevel, CorePlacement placement, CancellationToken cancellation,
        IReadOnlyList<string>? extraArguments = null)
    {
        IReadOnlyList<string> extra = extraArguments ?? [];
        NativeTool.Program? native = configuration.NativeServer;
        if (native is not null)
        {
            await native.EnsureBuiltAsync(cancellation);
        }
        (string fileName, string[] arguments) = native is not null
            ? placement.Server(native.BinaryPath, ["0", .. configuration.Arguments])
            : placement.Server("dotnet",
                [demoWebDll, "--urls", "http://127.0.0.1:0", "--echo-port", "0", "--h2c-port", "0", "--https", "true", "--https-port", "0",
                    $"--Logging:LogLevel:Default={appLogLevel}", .. configuration.Arguments, .. extra]);
        ProcessStartInfo start = Processes.RedirectedStart(fileName, arguments);
        foreach (var (name, value) in RuntimeEnvironment)
        {
            start.Environment[name] = value;
        }
        foreach (var (name, value) in configuration.Environment)
        {
            start.Environment[name] = value;
        }
        Process process = Processes.StartOrExplain(start);
        var errors = new StringBuilder();
        process.ErrorDataReceived += (_, e) =>
        {
            lock (errors)
            {
                // Keep the tail only: it is for the message when the server dies.
                if (e.Data is not null && errors.Length < 16_384)
                {
                    errors.AppendLine(e.Data);
                }
            }
        };
        process.BeginErrorReadLine();
        var server = new DemoServerProcess(process, errors, placement, extra);
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            deadline.CancelAfter(StartDeadline);
            // The C server has only the plaintext HTTP port.
            while (server.HttpPort == 0 || (native is null && (server.EchoPort == 0 || server.H2cPort == 0 || server.HttpsPort == 0)))
            {
                string? line;
                try
                {
                    line = await process.StandardOutput.ReadLineAsync(deadline.Token);
                }
                catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
                {
                    throw new TimeoutException(string.Create(CultureInfo.InvariantCulture, $"DemoWeb ({configuration.Name}) did not print its ports within {StartDeadline.TotalSeconds:F0} s."));
                }
                if (line is null)
                {
                    await process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                    throw new InvalidOperationException($"DemoWeb ({configuration.Name}) exited before printing its ports: {server.ErrorTail()}");
                }
                server.HttpPort = PortOf(line, "DemoWeb http: ") ?? server.HttpPort;
                server.EchoPort = PortOf(line, "DemoWeb echo: ") ?? server.EchoPort;
                server.H2cPort = PortOf(line, "DemoWeb h2c: ") ?? server.H2cPort;
                server.HttpsPort = PortOf(line, "DemoWeb https: ") ?? server.HttpsPort;
            }
            // Keep draining stdout so a chatty server never blocks on a full pipe.
            _ = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    private static int? PortOf(string line, string prefix) =>
        line.StartsWith(prefix, StringComparison.Ordinal) ? new Uri(line[prefix.Length..]).Port : null;

    /// <summary>Throws if the server died: a measurement against a dead server means nothing.</summary>
    public void EnsureRunning()
    {
        if (_process.HasExited)
        {
            throw new InvalidOperationException($"DemoWeb exited with {_process.ExitCode}: {ErrorTail()}");
        }
    }

    /// <summary>
    /// Whether the server is gone, waiting up to <paramref name="grace"/> for it: after a failed sample
    /// the client may have seen the dying server's resets before the process is reaped.
    /// </summary>
    public async Task<bool> HasExitedAsync(TimeSpan grace)
    {
        using var deadline = new CancellationTokenSource(grace);
        try
        {
            await _process.WaitForExitAsync(deadline.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private static readonly HttpClient s_statsClient = new() { Timeout = TimeSpan.FromSeconds(5) };

    /// <summary>
    /// The loops' handoffs so far (DemoWeb's /stats, the "epolltransport.loop.handoffs" instrument), or -1
    /// when the server has no such counter (Sockets) or did not answer: how often a handler held a loop
    /// past the stall threshold, which a benchmark should not see.
    /// </summary>
    public async Task<long> HandoffsAsync(CancellationToken cancellation)
    {
        try
        {
            using var stats = System.Text.Json.JsonDocument.Parse(
                await s_statsClient.GetStringAsync(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{HttpPort}/stats"), cancellation));
            return stats.RootElement.TryGetProperty("totals", out var totals) && totals.TryGetProperty("loop.handoffs", out var handoffs)
                ? handoffs.GetInt64()
                : -1;
        }
        catch (Exception e) when (e is HttpRequestException or System.Text.Json.JsonException or TaskCanceledException && !cancellation.IsCancellationRequested)
        {
            return -1;
        }
    }

    /// <summary>User plus system CPU time of the server so far, in seconds.</summary>
    public double CpuSeconds()
    {
        string stat = File.ReadAllText(string.Create(CultureInfo.InvariantCulture, $"/proc/{_process.Id}/stat"));
        return CpuTicks(stat) / (double)s_ticksPerSecond.Value;
    }

    /// <summary>
    /// CPU seconds so far of the server's tiered-compilation thread(s) (".NET Tiered Compilation Worker",
    /// which Linux shortens to 15 characters); 0 when there is none, e.g. with tiered compilation off.
    /// </summary>
    public double TieredCompilationCpuSeconds() => ThreadCpuSeconds(_process.Id, TieredCompilationThreadName);

    /// <summary>What Linux keeps of the name the runtime gives its tiered-compilation thread.</summary>
    internal const string TieredCompilationThreadName = ".NET Tiered Com";

    /// <summary>User plus system CPU seconds of the threads of <paramref name="processId"/> whose name starts with <paramref name="namePrefix"/>.</summary>
    internal static double ThreadCpuSeconds(int processId, string namePrefix)
    {
        long ticks = 0;
        foreach (string task in Directory.EnumerateDirectories(string.Create(CultureInfo.InvariantCulture, $"/proc/{processId}/task")))
        {
            try
            {
                if (File.ReadAllText(Path.Combine(task, "comm")).StartsWith(namePrefix, StringComparison.Ordinal))
                {
                    ticks += CpuTicks(File.ReadAllText(Path.Combine(task, "stat")));
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The thread exited between listing and reading: it has nothing more to add.
            }
        }
        return ticks / (double)s_ticksPerSecond.Value;
    }

    /// <summary>utime + stime from a /proc stat line (fields 14 and 15, counted after the parenthesised name, which may hold spaces).</summary>
    private static long CpuTicks(string stat)
    {
        string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
    }

    /// <summary>Descriptors the server has open, of every kind and the sockets among them (listeners and connections).</summary>
    public (int All, int Sockets) OpenDescriptors()
    {
        string[] fds = Directory.GetFileSystemEntries(string.Create(CultureInfo.InvariantCulture, $"/proc/{_process.Id}/fd"));
        int sockets = fds.Count(fd =>
        {
            try
            {
                return new FileInfo(fd).LinkTarget?.StartsWith("socket:", StringComparison.Ordinal) == true;
            }
            catch (IOException)
            {
                return false; // closed while we looked
            }
        });
        return (fds.Length, sockets);
    }

    /// <summary>The server's threads now.</summary>
    public int ThreadCount() => Directory.GetDirectories(string.Create(CultureInfo.InvariantCulture, $"/proc/{_process.Id}/task")).Length;

    /// <summary>Resident set size (VmRSS) in KiB.</summary>
    public long ResidentKiB() => StatusField("VmRSS:", string.Create(CultureInfo.InvariantCulture, $"/proc/{_process.Id}/status"));

    /// <summary>The server's soft RLIMIT_NOFILE (the runtime raises it to the hard limit at start-up).</summary>
    public long OpenFilesLimit()
    {
        string line = File.ReadLines(string.Create(CultureInfo.InvariantCulture, $"/proc/{_process.Id}/limits")).First(l => l.StartsWith("Max open files", StringComparison.Ordinal));
        string soft = line["Max open files".Length..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];
        return soft == "unlimited" ? long.MaxValue : long.Parse(soft, CultureInfo.InvariantCulture);
    }

    private static long StatusField(string name, string path)
    {
        string line = File.ReadLines(path).First(l => l.StartsWith(name, StringComparison.Ordinal));
        return long.Parse(line[name.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
    }

    private string ErrorTail()
    {
        lock (_errors)
        {
            string text = _errors.ToString().Trim();
            return text.Length == 0 ? "(no output on stderr)" : text[Math.Max(0, text.Length - 2000)..];
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                await ((Task)Processes.RunAsync("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(10), CancellationToken.None))
                    .ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                using var deadline = new CancellationTokenSource(StopDeadline);
                try
                {
                    await _process.WaitForExitAsync(deadline.Token);
                }
                catch (OperationCanceledException)
                {
                    Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"DemoWeb (pid {_process.Id}) ignored SIGTERM for {StopDeadline.TotalSeconds:F0} s; killing it."));
                    Processes.Kill(_process);
                }
            }
        }
        finally
        {
            _process.Dispose();
        }
    }
}
