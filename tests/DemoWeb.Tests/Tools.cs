using System.Diagnostics;
using EpollTransport.Tests.Shared;

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
        return await ProcessRunner.RunAsync(start, timeout);
    }

    /// <summary>Where a tool is installed, or null; .ci/run installs curl, h2load and chromium.</summary>
    public static string? Find(string name)
        => (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':')
            .Select(dir => Path.Combine(dir, name)).FirstOrDefault(File.Exists);

    public static string Require(string name)
        => Find(name) ?? throw new InvalidOperationException($"{name} is not installed; .ci/run installs it (apt-get install {name}).");
}
