using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace EpollTransport.Perf;

/// <summary>
/// HTTP scenarios against DemoWeb, every server configuration in alternation (round 1: A B C D, round 2:
/// A B C D, ...), reporting medians and ratios to "Sockets default" from the same run. Each server runs
/// as its own process so its CPU time can be read from /proc.
/// </summary>
internal static partial class HttpBenchmarks
{
    private static readonly ServerConfiguration[] Configurations =
    [
        new("Sockets default", ["--transport", "sockets"], []),
        new("Sockets tuned", ["--transport", "sockets", "--inline", "true"], [("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1")]),
        new("Epoll default", ["--transport", "epoll"], []),
        new("Epoll inline", ["--transport", "epoll", "--inline", "true"], []),
    ];

    private static readonly Scenario[] Scenarios =
    [
        new("plaintext 64", Tool.Wrk, "/plaintext", ["-c", "64"]),
        new("plaintext 256", Tool.Wrk, "/plaintext", ["-c", "256"]),
        new("plaintext pipelined x16", Tool.Wrk, "/plaintext", ["-c", "256", "-s", "perf/pipeline.lua"], ["--", "16"]),
        new("json 256", Tool.Wrk, "/json", ["-c", "256"]),
        new("connection churn", Tool.Wrk, "/plaintext", ["-c", "32", "-H", "Connection: close"]),
        new("h2c", Tool.H2load, "/plaintext", ["-c", "16", "-m", "32"]),
    ];

    public static async Task<int> RunAsync(int rounds, int seconds)
    {
        string demoWeb = Path.GetFullPath("src/DemoWeb/bin/Release/net10.0/DemoWeb.dll");
        if (!File.Exists(demoWeb))
        {
            Console.Error.WriteLine($"Build DemoWeb first: {demoWeb} is missing (dotnet build -c Release src/DemoWeb).");
            return 2;
        }
        var samples = new List<Sample>();
        for (int round = 1; round <= rounds; round++)
        {
            foreach (ServerConfiguration configuration in Configurations)
            {
                await using var server = await DemoServerProcess.StartAsync(demoWeb, configuration);
                foreach (Scenario scenario in Scenarios)
                {
                    Sample sample = await MeasureAsync(server, configuration, scenario, round, seconds);
                    samples.Add(sample);
                    Console.Error.WriteLine($"round {round}/{rounds}  {configuration.Name,-16} {scenario.Name,-24} {sample.RequestsPerSecond,12:N0} req/s  p99 {sample.P99Milliseconds,7:F2} ms  cpu/1k {sample.CpuSecondsPerThousand * 1000,6:F1} ms");
                }
            }
        }

        string markdown = Report.Markdown(samples, Configurations.Select(c => c.Name).ToArray(), Scenarios.Select(s => s.Name).ToArray(), rounds);
        Console.WriteLine(markdown);
        Directory.CreateDirectory("perf/results");
        string stamp = DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
        await File.WriteAllTextAsync($"perf/results/http-{stamp}.md", markdown);
        await File.WriteAllTextAsync($"perf/results/http-{stamp}.json", JsonSerializer.Serialize(samples, new JsonSerializerOptions { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals }));
        Console.Error.WriteLine($"Wrote perf/results/http-{stamp}.md and .json");
        return 0;
    }

    private static async Task<Sample> MeasureAsync(DemoServerProcess server, ServerConfiguration configuration, Scenario scenario, int round, int seconds)
    {
        int port = scenario.Tool == Tool.H2load ? server.H2cPort : server.HttpPort;
        string url = $"http://127.0.0.1:{port}{scenario.Path}";
        await RunLoadAsync(scenario, url, 2); // warm-up: JIT tiers, pools, connections
        (long cpuBefore, _) = server.CpuTicks();
        string output = await RunLoadAsync(scenario, url, seconds);
        (long cpuAfter, long ticksPerSecond) = server.CpuTicks();

        (double rps, double p99, long requests) = scenario.Tool == Tool.Wrk ? ParseWrk(output) : ParseH2load(output);
        double cpuSeconds = (cpuAfter - cpuBefore) / (double)ticksPerSecond;
        return new Sample(configuration.Name, scenario.Name, round, rps, p99, requests == 0 ? double.NaN : cpuSeconds / requests * 1000);
    }

    private static Task<string> RunLoadAsync(Scenario scenario, string url, int seconds)
    {
        var arguments = new List<string>();
        if (scenario.Tool == Tool.Wrk)
        {
            arguments.AddRange(["-t", "2", "-d", $"{seconds}s", "--latency"]);
            arguments.AddRange(scenario.Arguments);
            arguments.Add(url);
            arguments.AddRange(scenario.TrailingArguments);
            return Processes.RunAsync("wrk", arguments);
        }
        arguments.AddRange(["-t", "2", "-D", seconds.ToString(CultureInfo.InvariantCulture)]);
        arguments.AddRange(scenario.Arguments);
        arguments.Add(url);
        return Processes.RunAsync("h2load", arguments);
    }

    private static (double Rps, double P99, long Requests) ParseWrk(string output)
    {
        double rps = double.Parse(WrkRps().Match(output).Groups[1].Value, CultureInfo.InvariantCulture);
        long requests = long.Parse(WrkRequests().Match(output).Groups[1].Value, CultureInfo.InvariantCulture);
        Match p99 = WrkP99().Match(output);
        return (rps, p99.Success ? ToMilliseconds(double.Parse(p99.Groups[1].Value, CultureInfo.InvariantCulture), p99.Groups[2].Value) : double.NaN, requests);
    }

    private static (double Rps, double P99, long Requests) ParseH2load(string output)
    {
        double rps = double.Parse(H2loadRps().Match(output).Groups[1].Value, CultureInfo.InvariantCulture);
        long requests = long.Parse(H2loadSucceeded().Match(output).Groups[1].Value, CultureInfo.InvariantCulture);
        return (rps, double.NaN, requests);
    }

    private static double ToMilliseconds(double value, string unit) => unit switch
    {
        "us" => value / 1000,
        "ms" => value,
        "s" => value * 1000,
        _ => double.NaN,
    };

    [GeneratedRegex(@"Requests/sec:\s+([0-9.]+)")]
    private static partial Regex WrkRps();

    [GeneratedRegex(@"([0-9]+) requests in")]
    private static partial Regex WrkRequests();

    [GeneratedRegex(@"99%\s+([0-9.]+)(us|ms|s)")]
    private static partial Regex WrkP99();

    [GeneratedRegex(@"finished in [0-9.]+\w*, ([0-9.]+) req/s")]
    private static partial Regex H2loadRps();

    [GeneratedRegex(@"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded")]
    private static partial Regex H2loadSucceeded();

    private enum Tool
    {
        Wrk,
        H2load,
    }

    private sealed record Scenario(string Name, Tool Tool, string Path, string[] Arguments, string[]? Trailing = null)
    {
        public string[] TrailingArguments => Trailing ?? [];
    }
}

internal sealed record ServerConfiguration(string Name, string[] Arguments, (string Name, string Value)[] Environment);

internal sealed record Sample(string Configuration, string Scenario, int Round, double RequestsPerSecond, double P99Milliseconds, double CpuSecondsPerThousand);
