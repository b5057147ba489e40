using System.Diagnostics;
using System.Globalization;

namespace EpollTransport.Perf;

/// <summary>DemoWeb as a child process on dynamic loopback ports; stopped (SIGTERM) and awaited on dispose.</summary>
internal sealed class DemoServerProcess : IAsyncDisposable
{
    private static readonly Lazy<long> s_ticksPerSecond = new(() =>
        long.Parse(Processes.RunAsync("getconf", ["CLK_TCK"]).GetAwaiter().GetResult().Trim(), CultureInfo.InvariantCulture));

    private readonly Process _process;

    private DemoServerProcess(Process process, int httpPort, int h2cPort)
    {
        _process = process;
        HttpPort = httpPort;
        H2cPort = h2cPort;
    }

    public int HttpPort { get; }

    public int H2cPort { get; }

    public static async Task<DemoServerProcess> StartAsync(string demoWebDll, ServerConfiguration configuration)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in new[] { demoWebDll, "--urls", "http://127.0.0.1:0", "--echo-port", "0", "--h2c-port", "0", "--Logging:LogLevel:Default=Warning" }.Concat(configuration.Arguments))
        {
            start.ArgumentList.Add(argument);
        }
        foreach (var (name, value) in configuration.Environment)
        {
            start.Environment[name] = value;
        }
        Process process = Process.Start(start)!;
        _ = process.StandardError.ReadToEndAsync();
        int http = 0, h2c = 0;
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (http == 0 || h2c == 0)
        {
            string line = await process.StandardOutput.ReadLineAsync(deadline.Token)
                ?? throw new InvalidOperationException($"DemoWeb ({configuration.Name}) exited before printing its ports.");
            if (line.StartsWith("DemoWeb http: ", StringComparison.Ordinal))
            {
                http = new Uri(line["DemoWeb http: ".Length..]).Port;
            }
            else if (line.StartsWith("DemoWeb h2c: ", StringComparison.Ordinal))
            {
                h2c = new Uri(line["DemoWeb h2c: ".Length..]).Port;
            }
        }
        _ = process.StandardOutput.ReadToEndAsync();
        return new DemoServerProcess(process, http, h2c);
    }

    /// <summary>User plus system CPU time of the server so far, in clock ticks, and the tick rate.</summary>
    public (long Ticks, long TicksPerSecond) CpuTicks()
    {
        string stat = File.ReadAllText($"/proc/{_process.Id}/stat");
        // Fields after the parenthesised command name: state is field 3, utime 14 and stime 15.
        string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        long utime = long.Parse(fields[11], CultureInfo.InvariantCulture);
        long stime = long.Parse(fields[12], CultureInfo.InvariantCulture);
        return (utime + stime, s_ticksPerSecond.Value);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            using var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]);
            await kill.WaitForExitAsync();
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await _process.WaitForExitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        _process.Dispose();
    }
}

internal static class Processes
{
    /// <summary>Runs a load generator (or other tool) to completion and returns its standard output.</summary>
    public static async Task<string> RunAsync(string fileName, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(fileName) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using Process process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {fileName}.");
        Task<string> error = process.StandardError.ReadToEndAsync();
        string output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{fileName} exited with {process.ExitCode}: {await error}");
        }
        return output;
    }
}
