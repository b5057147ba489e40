using System.Globalization;
using System.Text.Json;

namespace EpollTransport.Perf;

/// <summary>
/// Writes perf/results/&lt;stamp&gt;.md, .json and .svg; a complete run (every scenario, every
/// configuration) also becomes latest.md/.json/.svg, the stable names the README links. Subset runs
/// for tuning never replace it.
/// </summary>
internal static class ResultFiles
{
    private const string Directory = "perf/results";

    public static async Task<string[]> WriteAsync(Results results, TargetReport targets, string markdown, CancellationToken cancellation)
    {
        System.IO.Directory.CreateDirectory(Directory);
        string stamp = results.Stamp;
        string title = string.Create(CultureInfo.InvariantCulture, $"EpollTransport vs Sockets — {stamp}, medians of {results.Rounds} round(s) × {results.Seconds} s");
        var files = new Dictionary<string, string>
        {
            ["md"] = $"# {title}\n\n{markdown}",
            ["json"] = Json(results, targets, stamp),
            ["svg"] = SvgChart.Render(results, title),
        };
        var written = new List<string>();
        foreach (var (extension, content) in files)
        {
            string path = $"{Directory}/{stamp}.{extension}";
            await File.WriteAllTextAsync(path, content, cancellation);
            written.Add(path);
            if (results.IsComplete)
            {
                File.Copy(path, $"{Directory}/latest.{extension}", overwrite: true);
            }
        }
        return written.ToArray();
    }

    internal static string Json(Results results, TargetReport targets, string stamp)
    {
        // NaN (not measured, or failed) becomes null: plain JSON that every reader accepts.
        static double? N(double value) => double.IsNaN(value) || double.IsInfinity(value) ? null : value;
        var document = new
        {
            stamp,
            startedUtc = results.StartedUtc,
            rounds = results.Rounds,
            seconds = results.Seconds,
            appLogLevel = results.AppLogLevel,
            complete = results.IsComplete,
            hostCheck = new
            {
                fastestRoundTripNanoseconds = N(results.HostFastestNanoseconds),
                slowFactor = HostPhaseGuard.SlowFactor,
                retakenSamples = results.RetakenCount,
                keptInSlowPhase = results.HostSlowCount,
            },
            machine = new
            {
                processors = Environment.ProcessorCount,
                os = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
                runtime = System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription,
            },
            configurations = results.Configurations.Select(c => new { name = c.Name, arguments = c.Arguments, environment = c.Environment.Select(e => $"{e.Name}={e.Value}") }),
            scenarios = results.Scenarios.Select(s => new { name = s.Name, unit = s.Unit, higherIsBetter = s.HigherIsBetter, cpuUnit = s.CpuUnit, hasP99 = s.HasP99 }),
            medians = results.Scenarios.SelectMany(s => results.Configurations.Select(c => new
            {
                scenario = s.Name,
                configuration = c.Name,
                value = N(results.Median(c.Name, s.Name, TargetMetric.Value)),
                ratio = N(results.Ratio(c.Name, s.Name, TargetMetric.Value)),
                cpuMilliseconds = N(results.Median(c.Name, s.Name, TargetMetric.Cpu)),
                cpuRatio = N(results.Ratio(c.Name, s.Name, TargetMetric.Cpu)),
                p99Milliseconds = N(results.Median(c.Name, s.Name, TargetMetric.P99)),
                p99Ratio = N(results.Ratio(c.Name, s.Name, TargetMetric.P99)),
                failedSamples = results.FailedCount(c.Name, s.Name),
            })),
            allTargetsHold = targets.AllHold,
            targets = targets.Rows.Select(t => new
            {
                target = t.Target.Label,
                scenario = t.Target.Scenario,
                metric = t.Target.Metric.ToString(),
                goal = t.Goal,
                socketsDefault = N(t.SocketsDefault),
                epollDefault = N(t.EpollDefault),
                epollDefaultRatio = N(t.EpollDefaultRatio),
                epollInline = N(t.EpollInline),
                epollInlineRatio = N(t.EpollInlineRatio),
                defaultFloor = t.Target.DefaultFloor,
                pass = t.Pass,
                verdict = t.Verdict.ToString(),
                betterEpollVsSocketsTuned = N(t.BestEpollVsSocketsTuned),
                betterEpoll = t.BestEpoll,
            }),
            againstSocketsTuned = targets.AgainstSocketsTuned.Select(t => new
            {
                scenario = t.Target.Scenario,
                goal = t.Goal,
                socketsTuned = N(t.SocketsTuned),
                betterEpoll = N(t.BestEpoll),
                betterEpollConfiguration = t.BestEpollName,
                ratio = N(t.Ratio),
                pass = t.Pass,
            }),
            samples = results.Samples.Select(s => new
            {
                configuration = s.Configuration,
                scenario = s.Scenario,
                round = s.Round,
                value = N(s.Value),
                p99Milliseconds = N(s.P99Milliseconds),
                cpuMilliseconds = N(s.CpuMilliseconds),
                probeBeforeNanoseconds = N(s.ProbeBeforeNanoseconds),
                probeAfterNanoseconds = N(s.ProbeAfterNanoseconds),
                attempts = s.Attempts,
                hostSlow = s.HostSlow,
                warmupSeconds = s.WarmupSeconds,
                error = s.Error,
            }),
        };
        return JsonSerializer.Serialize(document, new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n";
    }
}
