using System.Diagnostics;
using System.Globalization;
using Xunit.Abstractions;

namespace EpollTransport.Frameworks.Tests.Infrastructure;

/// <summary>
/// Writes the throughput a test measured as one greppable line ("FIGURE framework | scenario | transport | rate"),
/// so a run with <c>--logger "console;verbosity=detailed"</c> yields a Sockets-versus-epoll table. The figures are
/// reported, never asserted: the machine is shared and its timing is not the test's verdict.
/// </summary>
public static class Figures
{
    public static void Report(ITestOutputHelper output, string framework, string scenario, string transport, double amount, string unit, TimeSpan elapsed)
    {
        double seconds = Math.Max(elapsed.TotalSeconds, 1e-6);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"FIGURE {framework} | {scenario} | {transport} | {amount / seconds:F1} {unit}/s | {amount:0.##} {unit} in {elapsed.TotalMilliseconds:F0} ms"));
    }

    public static void ReportMiB(ITestOutputHelper output, string framework, string scenario, string transport, long bytes, TimeSpan elapsed)
        => Report(output, framework, scenario, transport, bytes / (1024.0 * 1024.0), "MiB", elapsed);

    /// <summary>Runs <paramref name="body"/> and returns how long it took.</summary>
    public static async Task<TimeSpan> TimeAsync(Func<Task> body)
    {
        long start = Stopwatch.GetTimestamp();
        await body();
        return Stopwatch.GetElapsedTime(start);
    }
}
