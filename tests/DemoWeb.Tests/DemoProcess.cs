using System.Diagnostics;
using System.Globalization;

namespace DemoWeb.Tests;

/// <summary>
/// DemoWeb as a real process (`dotnet DemoWeb.dll`), for what only a process has: its console banner,
/// environment variables, signals and exit code.
/// </summary>
public sealed class DemoProcess : IDisposable
{
    private const string ReadyLine = "DemoWeb is ready";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    private readonly Process _process;

    private DemoProcess(Process process)
    {
        _process = process;
        Output = new LineWatcher(process.StandardOutput, process.StandardError);
    }

    /// <summary>stdout and stderr together: the banner, the logs, and any crash.</summary>
    public LineWatcher Output { get; }

    public int ExitCode => _process.ExitCode;

    /// <summary>The process id (a launcher such as prlimit execs dotnet, so this is DemoWeb's).</summary>
    public int ProcessId => _process.Id;

    /// <summary>Starts DemoWeb and returns once its banner is complete.</summary>
    /// <param name="launcher">A command that runs DemoWeb under it by exec, such as <c>prlimit --nofile=256:256</c>.</param>
    /// <param name="workingDirectory">Where DemoWeb runs from (the test's own directory when null).</param>
    public static async Task<DemoProcess> StartAsync(string[] args, IReadOnlyDictionary<string, string>? environment = null, string[]? launcher = null,
        string? workingDirectory = null)
    {
        var start = new ProcessStartInfo(launcher is { Length: > 0 } ? launcher[0] : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? string.Empty,
        };
        if (launcher is { Length: > 0 })
        {
            foreach (string arg in launcher[1..])
            {
                start.ArgumentList.Add(arg);
            }
            start.ArgumentList.Add("dotnet");
        }
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "DemoWeb.dll"));
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        // The transport's ownership guard, on in every test (see FdOwnership in the transport).
        start.Environment["EPOLLTRANSPORT_VERIFY_FD_OWNERSHIP"] = "1";
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        var demo = new DemoProcess(Process.Start(start) ?? throw new InvalidOperationException("Could not start dotnet DemoWeb.dll."));
        try
        {
            await demo.Output.WaitForAsync(l => l.StartsWith(ReadyLine, StringComparison.Ordinal), StartTimeout);
            return demo;
        }
        catch
        {
            demo.Dispose();
            throw;
        }
    }

    /// <summary>The address the banner gives for a role ("http", "echo", "h2c", "https"); echo's scheme is tcp://.</summary>
    public async Task<Uri> AddressAsync(string role)
    {
        string prefix = $"DemoWeb {role}: ";
        // The ready line closes the banner, so reaching it first means the role was never printed.
        string line = await Output.WaitForAsync(
            l => l.StartsWith(prefix, StringComparison.Ordinal) || l.StartsWith(ReadyLine, StringComparison.Ordinal), StartTimeout);
        if (!line.StartsWith(prefix, StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"The banner has no {role} address:\n{Output.Text}");
        }
        return new Uri(line[prefix.Length..].Trim());
    }

    /// <summary>Sends a signal by name ("INT" is Ctrl+C, "TERM" is what a service manager or container runtime sends).</summary>
    public async Task SignalAsync(string signal)
    {
        var (exitCode, output) = await Tools.RunAsync("kill", [$"-{signal}", _process.Id.ToString(CultureInfo.InvariantCulture)], StartTimeout);
        if (exitCode != 0)
        {
            throw new InvalidOperationException($"kill -{signal} {_process.Id} failed ({exitCode}): {output}");
        }
    }

    /// <summary>User plus system CPU time DemoWeb has used so far (/proc/PID/stat, clock ticks of 10 ms).</summary>
    public TimeSpan CpuTime()
    {
        string stat = File.ReadAllText($"/proc/{_process.Id}/stat");
        // Fields after the command name, which is in parentheses and may hold spaces: state is field 3,
        // utime and stime fields 14 and 15.
        string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        long ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return TimeSpan.FromMilliseconds(ticks * 10);
    }

    /// <summary>Descriptors DemoWeb has open now (of every kind: the runtime keeps each loaded assembly open too).</summary>
    public int OpenDescriptors() => Directory.GetFileSystemEntries($"/proc/{_process.Id}/fd").Length;

    /// <summary>Sockets DemoWeb has open now: its listeners and connections, nothing the runtime opens lazily.</summary>
    public int OpenSockets() => Directory.GetFileSystemEntries($"/proc/{_process.Id}/fd").Count(fd =>
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

    public async Task WaitForExitAsync(TimeSpan timeout)
    {
        try
        {
            await _process.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"DemoWeb did not exit within {timeout}. Output so far:\n{Output.Text}");
        }
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(TimeSpan.FromSeconds(10));
        }
        _process.Dispose();
    }
}
