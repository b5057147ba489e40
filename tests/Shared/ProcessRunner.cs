using System.Diagnostics;

namespace EpollTransport.Tests.Shared;

/// <summary>
/// Runs a command to its end within a deadline, for the test projects that drive external tools (curl,
/// h2load, dotnet, dotnet-counters). Linked into each of them, so there is one copy of the deadline,
/// the output collection and the kill.
/// </summary>
public static class ProcessRunner
{
    /// <summary>
    /// Starts <paramref name="start"/> (stdout and stderr redirected) and waits for it. Returns its exit
    /// code and its stdout followed by its stderr. On overrun the whole process tree is killed and a
    /// <see cref="TimeoutException"/> carries the command and what it printed.
    /// </summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(ProcessStartInfo start, TimeSpan timeout)
    {
        string command = Describe(start);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {command}.");
        // Both streams are read from the start: a child that fills one pipe while we wait would block.
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            throw new TimeoutException($"{command} did not finish within {timeout}. Output:\n{await stdout}{await stderr}");
        }
        return (process.ExitCode, await stdout + await stderr);
    }

    /// <summary>"`file args`" and, when one is set, "(in directory)": for messages.</summary>
    public static string Describe(ProcessStartInfo start)
        => $"`{start.FileName} {string.Join(' ', start.ArgumentList)}`"
            + (string.IsNullOrEmpty(start.WorkingDirectory) ? string.Empty : $" (in {start.WorkingDirectory})");
}
