using System.Diagnostics;
using System.Text;
using EpollTransport.Tests.Shared;

namespace EpollTransport.Package.Tests;

/// <summary>
/// Runs the `dotnet` CLI (and the app it builds) as child processes with a deadline, collecting their
/// output so that a failure can show it.
/// </summary>
public static class ChildProcess
{
    /// <summary>
    /// What every `dotnet` child gets: no telemetry, banner or first-run work, and no MSBuild nodes or
    /// compiler server left behind after it exits (they would outlive the test).
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> QuietDotnet = new Dictionary<string, string>
    {
        ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
        ["DOTNET_NOLOGO"] = "1",
        ["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1",
        ["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0",
        ["MSBUILDDISABLENODEREUSE"] = "1",
        ["UseSharedCompilation"] = "false",
    };

    /// <summary>Runs a command to its end; throws with its whole output when it fails or overruns.</summary>
    public static async Task<string> RunAsync(string fileName, IEnumerable<string> arguments, string workingDirectory,
        TimeSpan timeout, IReadOnlyDictionary<string, string>? environment = null)
    {
        ProcessStartInfo start = StartInfo(fileName, arguments, workingDirectory, environment);
        var (exitCode, output) = await ProcessRunner.RunAsync(start, timeout);
        if (exitCode != 0)
        {
            throw new InvalidOperationException($"{ProcessRunner.Describe(start)} exited with {exitCode}. Output:\n{output}");
        }
        return output;
    }

    public static ProcessStartInfo StartInfo(string fileName, IEnumerable<string> arguments, string workingDirectory,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        foreach (var (name, value) in QuietDotnet)
        {
            start.Environment[name] = value;
        }
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }
        return start;
    }
}

/// <summary>A long-running child (the built app): its output so far, and a wait for a line.</summary>
public sealed class RunningChild : IDisposable
{
    private readonly Process _process;
    private readonly object _gate = new();
    private readonly StringBuilder _output = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _openStreams = 2;

    public RunningChild(ProcessStartInfo start)
    {
        _process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {start.FileName}.");
        _ = PumpAsync(_process.StandardOutput);
        _ = PumpAsync(_process.StandardError);
    }

    public int Id => _process.Id;

    public string Output
    {
        get
        {
            lock (_gate)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>The first output line that matches; fails at once if the process ends without one.</summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                string? line = _output.ToString().Split('\n').FirstOrDefault(match);
                if (line is not null)
                {
                    return line.TrimEnd('\r');
                }
                if (_openStreams == 0)
                {
                    throw new InvalidOperationException($"The app's output ended without the expected line. Output:\n{_output}");
                }
                changed = _changed.Task;
            }
            try
            {
                await changed.WaitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"The expected line did not come within {timeout}. Output:\n{Output}");
            }
        }
    }

    private async Task PumpAsync(StreamReader reader)
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            lock (_gate)
            {
                _output.Append(line).Append('\n');
                SignalLocked();
            }
        }
        lock (_gate)
        {
            _openStreams--;
            SignalLocked();
        }
    }

    /// <summary>Wakes the waiters and arms a fresh signal for the next change.</summary>
    private void SignalLocked()
    {
        _changed.TrySetResult();
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(TimeSpan.FromSeconds(10));
            }
        }
        catch (InvalidOperationException)
        {
            // It exited between the check and the kill.
        }
        _process.Dispose();
    }
}
