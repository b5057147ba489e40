using System.Diagnostics;

namespace DemoWeb.Tests;

/// <summary>Runs the command-line clients the tests drive (curl, h2load, chromium) with a deadline.</summary>
public static class Tools
{
    public static async Task<(int ExitCode, string Output)> RunAsync(string fileName, IEnumerable<string> arguments, TimeSpan timeout,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {fileName}.");
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
            throw new TimeoutException($"{fileName} did not finish within {timeout}.");
        }
        return (process.ExitCode, await stdout + await stderr);
    }

    /// <summary>Where a tool is installed, or null; .ci/run installs curl, h2load and chromium.</summary>
    public static string? Find(string name)
        => (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':')
            .Select(dir => Path.Combine(dir, name)).FirstOrDefault(File.Exists);

    public static string Require(string name)
        => Find(name) ?? throw new InvalidOperationException($"{name} is not installed; .ci/run installs it (apt-get install {name}).");
}
