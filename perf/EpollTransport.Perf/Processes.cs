using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;

namespace EpollTransport.Perf;

internal static class Processes
{
    /// <summary>
    /// Runs a tool to completion and returns its standard output. A tool that fails, hangs past
    /// <paramref name="timeout"/> or is cancelled is killed, and the exception says which and why, so the
    /// caller can record the sample as failed and carry on.
    /// </summary>
    public static async Task<string> RunAsync(string fileName, IEnumerable<string> arguments, TimeSpan timeout, CancellationToken cancellation, IEnumerable<(string Name, string Value)>? environment = null)
    {
        string[] argumentList = arguments.ToArray();
        ProcessStartInfo start = RedirectedStart(fileName, argumentList);
        string tool = Describe(fileName, argumentList);
        foreach (var (name, value) in environment ?? [])
        {
            start.Environment[name] = value;
        }
        using Process process = StartOrExplain(start);
        Task<string> output = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        Task<string> error = process.StandardError.ReadToEndAsync(CancellationToken.None);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        deadline.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            Kill(process);
            cancellation.ThrowIfCancellationRequested();
            throw new TimeoutException(string.Create(CultureInfo.InvariantCulture, $"{tool} did not finish within {timeout.TotalSeconds:F0} s and was killed."));
        }
        string stdout = await output;
        if (process.ExitCode != 0)
        {
            string stderr = (await error).Trim();
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"{tool} exited with {process.ExitCode}: {(stderr.Length > 0 ? stderr : stdout.Trim())}"));
        }
        return stdout;
    }

    /// <summary>The tool a command runs, for messages: under taskset, the pinned command (with its CPUs) rather than taskset.</summary>
    public static string Describe(string fileName, IReadOnlyList<string> arguments) =>
        fileName == CorePlacement.PinningTool && arguments is ["-c", string cpus, string pinned, ..]
            ? $"{pinned} (on CPU {cpus})"
            : fileName;

    /// <summary>How every tool here is started: no shell, standard output and error captured.</summary>
    public static ProcessStartInfo RedirectedStart(string fileName, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(fileName) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        return start;
    }

    public static Process StartOrExplain(ProcessStartInfo start)
    {
        try
        {
            return Process.Start(start) ?? throw new InvalidOperationException($"Could not start {start.FileName}.");
        }
        catch (Win32Exception e)
        {
            throw new InvalidOperationException($"Could not start {start.FileName}: {e.Message}", e);
        }
    }

    public static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
    }

    /// <summary><paramref name="command"/> as root: as it is when we are root, through sudo for anyone else.</summary>
    public static string[] AsRoot(string[] command) => Environment.IsPrivilegedProcess ? command : ["sudo", .. command];

    /// <summary>Whether <paramref name="command"/> is an executable file on PATH.</summary>
    public static bool IsOnPath(string command) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, command))
            .Any(path => File.Exists(path) && (OperatingSystem.IsWindows() || (File.GetUnixFileMode(path) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0));
}
