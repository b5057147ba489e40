using System.Globalization;
using System.Text.Json;

namespace EpollTransport.Perf;

/// <summary>
/// Writes perf/results/&lt;stamp&gt;.md, .json and .svg (&lt;stamp&gt;-busy&lt;N&gt;.* with busy neighbours); a
/// complete run (every scenario, every configuration of the default set, both core setups, no busy
/// neighbours) also becomes latest.md/.json/.svg, the stable names the README links. Subset runs for
/// tuning never replace it.
/// </summary>
internal static class ResultFiles
{
    private const string Directory = "perf/results";

    public static async Task<string[]> WriteAsync(Results results, TargetReport targets, string markdown, CancellationToken cancellation)
    {
        System.IO.Directory.CreateDirectory(Directory);
        string stamp = results.Stamp;
        string busy = results.BusyNeighbours > 0 ? string.Create(CultureInfo.InvariantCulture, $", {results.BusyNeighbours} busy neighbour(s)") : string.Empty;
        string title = string.Create(CultureInfo.InvariantCulture, $"EpollTransport vs Sockets — {stamp}, medians of {results.Rounds} round(s) × {results.Seconds} s{busy}");
        var files = new Dictionary<string, string>
        {
            ["md"] = $"# {title}\n\n{markdown}",
            ["json"] = Json(results, targets, stamp),
            ["svg"] = SvgChart.Render(results, title),
        };
        var written = new List<string>();
        foreach (var (extension, content) in files)
        {
            string path = $"{Directory}/{results.FileStem}.{extension}";
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
            // Processes spinning beside the server during every sample (0: none); such runs are named <stamp>-busy<N>.*.
            busyNeighbours = results.BusyNeighbours,
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
            setups = results.Setups.Select(CorePlacement.Name),
            serverEnvironment = results.ServerEnvironment,
            configurations = results.Configurations.Select(c => new { name = c.Name, arguments = c.Arguments, environment = c.Environment.Select(e => $"{e.Name}={e.Value}") }),
            scenarios = results.Scenarios.Select(s => new { name = s.Name, unit = s.Unit, higherIsBetter = s.HigherIsBetter, cpuUnit = s.CpuUnit, hasP50 = s.HasP50, hasP99 = s.HasP99, inDedicatedSetup = s.InDedicatedSetup, serverArguments = s.ServerArguments }),
            medians = results.Setups.Select(results.For).SelectMany(view => view.Scenarios.SelectMany(s => view.Configurations.Select(c => new
            {
                setup = CorePlacement.Name(view.Setup),
                scenario = s.Name,
                configuration = c.Name,
                value = N(view.Median(c.Name, s.Name, TargetMetric.Value)),
                ratio = N(view.Ratio(c.Name, s.Name, TargetMetric.Value)),
                cpuMilliseconds = N(view.Median(c.Name, s.Name, TargetMetric.Cpu)),
                cpuRatio = N(view.Ratio(c.Name, s.Name, TargetMetric.Cpu)),
                p50Milliseconds = N(view.Median(c.Name, s.Name, TargetMetric.P50)),
                p50Ratio = N(view.Ratio(c.Name, s.Name, TargetMetric.P50)),
                p99Milliseconds = N(view.Median(c.Name, s.Name, TargetMetric.P99)),
                p99Ratio = N(view.Ratio(c.Name, s.Name, TargetMetric.P99)),
                failedSamples = view.FailedCount(c.Name, s.Name),
            }))),
            allTargetsHold = targets.AllHold,
            targets = targets.Setups.Select(setup => new
            {
                setup = CorePlacement.Name(setup.Setup),
                heading = setup.Placement.Heading,
                held = setup.Held,
                judged = setup.Judged,
                allHold = setup.AllHold,
                outcomes = setup.Outcomes.Select(t => new
                {
                    target = t.Target.Label,
                    against = t.Target.Against,
                    scenario = t.Target.Scenario,
                    metric = t.Target.Metric.ToString(),
                    goal = t.Goal,
                    reference = N(t.Reference),
                    judged = t.Target.Judged,
                    value = N(t.Value),
                    ratio = N(t.Ratio),
                    pass = t.Pass,
                    judgedVsSocketsTuned = N(t.VersusSocketsTuned),
                }),
            }),
            samples = results.Samples.Select(s => new
            {
                configuration = s.Configuration,
                scenario = s.Scenario,
                round = s.Round,
                value = N(s.Value),
                p50Milliseconds = N(s.P50Milliseconds),
                p99Milliseconds = N(s.P99Milliseconds),
                cpuMilliseconds = N(s.CpuMilliseconds),
                probeBeforeNanoseconds = N(s.ProbeBeforeNanoseconds),
                probeAfterNanoseconds = N(s.ProbeAfterNanoseconds),
                attempts = s.Attempts,
                hostSlow = s.HostSlow,
                warmupSeconds = s.WarmupSeconds,
                setup = CorePlacement.Name(s.Setup),
                handoffs = s.Handoffs,
                error = s.Error,
            }),
        };
        return JsonSerializer.Serialize(document, new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n";
    }
}
