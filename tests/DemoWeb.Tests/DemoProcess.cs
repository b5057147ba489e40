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

    /// <summary>Starts DemoWeb and returns once its banner is complete.</summary>
    public static async Task<DemoProcess> StartAsync(string[] args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
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
