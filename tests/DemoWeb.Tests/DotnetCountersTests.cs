using System.Globalization;
using System.Text.Json;
using Xunit;
using Xunit.Abstractions;

namespace DemoWeb.Tests;

/// <summary>
/// The transport's instruments in the tool people reach for first: `dotnet-counters collect` attached
/// to a running DemoWeb over the diagnostics port, while the test sends it traffic.
/// </summary>
public sealed class DotnetCountersTests : IDisposable
{
    // The version the NuGet feed serves here; pinned so that a run is reproducible.
    private const string DotnetCountersVersion = "10.0.750501";

    private static readonly string[] Instruments =
    [
        "epolltransport.connections.current", "epolltransport.connections.accepted", "epolltransport.connections.refused",
        "epolltransport.bytes.received", "epolltransport.bytes.sent", "epolltransport.reads", "epolltransport.writes",
        "epolltransport.epoll.wakeups", "epolltransport.held_sends.timed_out", "epolltransport.quiet_inline.runs",
        "epolltransport.loop.handoffs",
    ];

    /// <summary>What the traffic below must move; the others count trouble, or depend on how the requests happened to arrive.</summary>
    private static readonly string[] MovedByTraffic =
    [
        "epolltransport.connections.current", "epolltransport.connections.accepted", "epolltransport.bytes.received",
        "epolltransport.bytes.sent", "epolltransport.reads", "epolltransport.writes", "epolltransport.epoll.wakeups",
    ];

    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("demoweb-dotnet-counters-");
    private readonly ITestOutputHelper _log;

    public DotnetCountersTests(ITestOutputHelper log) => _log = log;

    [Fact]
    public async Task DotnetCountersCollectSeesEveryTransportInstrumentMoveUnderTraffic()
    {
        string counters = await InstallDotnetCountersAsync();

        using var demo = await DemoProcess.StartAsync(["--urls", "http://127.0.0.1:0", "--threads", "2", "--echo-port", "-1", "--h2c-port", "-1"]);
        Uri http = await demo.AddressAsync("http");
        string report = Path.Combine(_root.FullName, "counters.json");

        // A new connection every few requests keeps connections.accepted moving in every interval, and
        // the client's pool keeps some open, so connections.current is above zero when sampled.
        Task<(int ExitCode, string Output)> collect = Tools.RunAsync(counters,
            ["collect", "-p", demo.ProcessId.ToString(CultureInfo.InvariantCulture), "--counters", "EpollTransport",
             "--format", "json", "-o", report, "--refresh-interval", "1", "--duration", "00:00:05"],
            TimeSpan.FromSeconds(60));
        int requests = 0;
        using (var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(20)))
        {
            var clients = new List<HttpClient>();
            try
            {
                // Bounded: the collector stops itself after 5 s; the cap only guards against it hanging.
                while (!collect.IsCompleted && requests < 5_000)
                {
                    if (requests % 25 == 0)
                    {
                        clients.Add(new HttpClient(new SocketsHttpHandler()) { BaseAddress = http, Timeout = TimeSpan.FromSeconds(20) });
                    }
                    Assert.Equal("Hello, World!", await clients[^1].GetStringAsync("/plaintext"));
                    requests++;
                    await timer.WaitForNextTickAsync();
                }
            }
            finally
            {
                clients.ForEach(c => c.Dispose());
            }
        }
        var (exitCode, output) = await collect;
        Assert.True(exitCode == 0, $"dotnet-counters collect exited with {exitCode} after {requests} requests:\n{output}\nDemoWeb:\n{demo.Output.Text}");
        Assert.True(File.Exists(report), $"dotnet-counters wrote no {report}:\n{output}");
        string json = await File.ReadAllTextAsync(report);

        // The report: { "TargetProcess": ..., "Events": [ { "provider", "name": "<instrument> (<unit>...)",
        // "tags": "epolltransport.loop=0", "counterType": "Rate" | "Metric", "value" }, ... ] }.
        var seen = new Dictionary<string, double>();
        var loops = new HashSet<string>();
        using (JsonDocument document = ParseReport(json, output))
        {
            foreach (JsonElement e in document.RootElement.GetProperty("Events").EnumerateArray())
            {
                if (e.GetProperty("provider").GetString() != "EpollTransport")
                {
                    continue;
                }
                string display = e.GetProperty("name").GetString() ?? "";
                int unitStart = display.IndexOf(" (", StringComparison.Ordinal);
                string name = unitStart < 0 ? display : display[..unitStart];
                double value = e.GetProperty("value").GetDouble();
                seen[name] = Math.Max(seen.GetValueOrDefault(name), value);
                if (e.TryGetProperty("tags", out JsonElement tags) && tags.GetString() is { Length: > 0 } tagText)
                {
                    loops.Add(tagText);
                }
            }
        }

        string summary = $"{requests} requests; largest value of each: {string.Join(", ", seen.Select(s => $"{s.Key}={s.Value}"))}; tags: {string.Join(" | ", loops)}";
        _log.WriteLine(summary);
        foreach (string instrument in Instruments)
        {
            Assert.True(seen.ContainsKey(instrument), $"{instrument} is missing from dotnet-counters' report. {summary}\n{json}");
        }
        foreach (string instrument in MovedByTraffic)
        {
            Assert.True(seen[instrument] > 0, $"{instrument} never moved above zero. {summary}");
        }
        // Per loop, as the meter reports them: DemoWeb ran two loops.
        Assert.Contains("epolltransport.loop=0", loops);
        Assert.Contains("epolltransport.loop=1", loops);
    }

    /// <summary>Installs the pinned dotnet-counters into this test's own folder; fails clearly when the feed cannot serve it.</summary>
    private async Task<string> InstallDotnetCountersAsync()
    {
        string toolPath = Path.Combine(_root.FullName, "tools");
        var (exitCode, output) = await Tools.RunAsync("dotnet",
            ["tool", "install", "--tool-path", toolPath, "dotnet-counters", "--version", DotnetCountersVersion],
            TimeSpan.FromMinutes(3),
            new Dictionary<string, string> { ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1", ["DOTNET_NOLOGO"] = "1", ["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1" });
        string counters = Path.Combine(toolPath, "dotnet-counters");
        if (exitCode != 0 || !File.Exists(counters))
        {
            throw new InvalidOperationException(
                $"This test needs dotnet-counters {DotnetCountersVersion}, and `dotnet tool install --tool-path {toolPath} dotnet-counters` failed ({exitCode}); the NuGet feed must serve the package:\n{output}");
        }
        return counters;
    }

    private static JsonDocument ParseReport(string json, string toolOutput)
    {
        try
        {
            return JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new InvalidOperationException($"dotnet-counters' report is not JSON ({e.Message}):\n{json}\nIts output:\n{toolOutput}", e);
        }
    }

    public void Dispose() => _root.Delete(recursive: true);
}
