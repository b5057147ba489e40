using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace EpollTransport.Perf;

/// <summary>
/// The run as Markdown: per core setup (under its heading), throughput/memory,
/// CPU and p99 tables with ratios to the baseline, then that setup's targets (<see cref="TargetTables"/>);
/// then a summary over the setups.
/// </summary>
internal static class Report
{
    public static string Markdown(Results results, TargetReport targets)
    {
        var text = new StringBuilder();
        string[] names = results.Configurations.Select(c => c.Name).ToArray();
        string[] phrases = results.Setups.Select(s => results.Placement(s).Phrase).ToArray();
        string setups = phrases.Length > 1 ? string.Join(" and ", phrases) + " in turn, each round" : phrases[0];
        text.AppendLine(CultureInfo.InvariantCulture, $"Medians of {results.Rounds} alternating round(s) of {results.Seconds} s per scenario ({WarmupPhrase(results)}); ratios to {ServerConfiguration.Baseline} from the same run and core setup. {results.Processors} cores, {RuntimeInformation.OSDescription}, {RuntimeInformation.FrameworkDescription}; load generators on the same machine, {setups}; DemoWeb's log level {results.AppLogLevel}. Started {results.StartedUtc.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)} UTC.");
        if (BusyLine(results) is { } busy)
        {
            text.AppendLine();
            text.AppendLine(busy);
        }
        text.AppendLine();
        text.AppendLine(HostCheckLine(results));
        if (HandoffLine(results) is { } handoffs)
        {
            text.AppendLine();
            text.AppendLine(handoffs);
        }
        if (results.PredatesSafeInline)
        {
            text.AppendLine();
            text.AppendLine(CultureInfo.InvariantCulture, $"This run predates safe inline scheduling and is not judged by the current targets: its {ServerConfiguration.EpollDefault} dispatched to the thread pool as today's does, its \"Epoll inline\" is shown as {ServerConfiguration.EpollUnsafeInline}, and it has no {ServerConfiguration.EpollSafeInline}.");
        }
        if (!results.Has(ServerConfiguration.Baseline))
        {
            text.AppendLine();
            text.AppendLine($"({ServerConfiguration.Baseline} was not run, so there are no ratios.)");
        }
        text.AppendLine();

        foreach (CoreSetup setup in results.Setups)
        {
            Results view = results.For(setup);
            // Runs from before the setups had shared cores only and no heading for them.
            if (!results.PredatesSafeInline)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"## {view.Placement(setup).Heading}");
                text.AppendLine();
            }
            Figures(text, view, names);
            if (targets.For(setup) is SetupTargets setupTargets && !results.PredatesSafeInline)
            {
                TargetTables.Append(text, view, setupTargets);
            }
        }

        if (!targets.IsEmpty)
        {
            if (targets.Setups.Count > 1)
            {
                text.AppendLine("Summary:");
                text.AppendLine();
                foreach (SetupTargets setup in targets.Setups)
                {
                    text.AppendLine(CultureInfo.InvariantCulture, $"- {setup.Placement.Heading}: {setup.Summary}.");
                }
                text.AppendLine();
            }
            text.AppendLine(targets.AllHold
                ? "Every target of the issue holds in this run."
                : "Not every target of the issue holds in this run.");
            text.AppendLine();
        }

        Sample[] failed = results.Samples.Where(s => s.Error is not null).ToArray();
        if (failed.Length > 0)
        {
            text.AppendLine("Failed samples (left out of the medians):");
            text.AppendLine();
            foreach (Sample sample in failed)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"- round {sample.Round}, {CorePlacement.Name(sample.Setup)} setup, {sample.Configuration}, {sample.Scenario}: {sample.Error!.ReplaceLineEndings(" ")}");
            }
            text.AppendLine();
        }
        return text.ToString();
    }

    /// <summary>One setup's throughput/memory, CPU and p99 tables.</summary>
    private static void Figures(StringBuilder text, Results setup, string[] names)
    {
        text.AppendLine(setup.Scenarios.Any(s => !s.HigherIsBetter)
            ? "Throughput (higher is better) and idle memory per connection (lower is better):"
            : "Throughput (higher is better):");
        text.AppendLine();
        Table(text, setup, names, setup.Scenarios, TargetMetric.Value, s => s.HigherIsBetter ? s.Unit : $"{s.Unit} (lower is better)");

        Scenario[] withCpu = setup.Scenarios.Where(s => s.CpuUnit is not null).ToArray();
        if (withCpu.Length > 0)
        {
            text.AppendLine("Server CPU per unit of work (user + system time from /proc; lower is better):");
            text.AppendLine();
            Table(text, setup, names, withCpu, TargetMetric.Cpu, s => s.CpuUnit!);
        }

        Scenario[] withP50 = setup.Scenarios.Where(s => s.HasP50).ToArray();
        if (withP50.Length > 0)
        {
            text.AppendLine("p50 latency (wrk's, or from h2load's per-request log; lower is better):");
            text.AppendLine();
            Table(text, setup, names, withP50, TargetMetric.P50, _ => "ms");
        }

        Scenario[] withP99 = setup.Scenarios.Where(s => s.HasP99).ToArray();
        if (withP99.Length > 0)
        {
            text.AppendLine("p99 latency (wrk's, h2load's per-request log, or echo_load's round trip per message; lower is better):");
            text.AppendLine();
            Table(text, setup, names, withP99, TargetMetric.P99, _ => "ms");
        }
    }

    /// <summary>The busy neighbours of the run in a sentence for the report's header; null when it had none.</summary>
    public static string? BusyLine(Results results)
    {
        if (results.BusyNeighbours == 0)
        {
            return null;
        }
        string where = string.Join("; ", results.Setups.Select(s => SuiteRunner.BusyPlacement(results.Placement(s))));
        return string.Create(CultureInfo.InvariantCulture,
            $"**Busy neighbours: {results.BusyNeighbours}.** Every sample ran beside {results.BusyNeighbours} process(es) spinning in user space at normal priority, from before its warm-up to the end of its measured run ({where}); figures are not comparable with a run without them. The targets are the same but for one connection, where issue 27 asks ≥ 1.00× with busy neighbours.");
    }

    private static void Table(StringBuilder text, Results results, string[] names, IEnumerable<Scenario> scenarios, TargetMetric metric, Func<Scenario, string> unit)
    {
        text.AppendLine(TableHeader(["scenario", "unit", .. names]));
        foreach (Scenario scenario in scenarios)
        {
            text.Append(CultureInfo.InvariantCulture, $"| {scenario.Name} | {unit(scenario)} |");
            foreach (string name in names)
            {
                double value = results.Median(name, scenario.Name, metric);
                int failures = results.FailedCount(name, scenario.Name);
                string failed = failures > 0 ? string.Create(CultureInfo.InvariantCulture, $" [{failures} failed]") : string.Empty;
                text.Append(CultureInfo.InvariantCulture, $" {Cell(value, results.Ratio(name, scenario.Name, metric), unit(scenario))}{failed} |");
            }
            text.AppendLine();
        }
        text.AppendLine();
    }

    /// <summary>A Markdown table's header row and the separator row below it, one cell per column.</summary>
    public static string TableHeader(params IEnumerable<string> columns)
    {
        string[] names = columns.ToArray();
        return "| " + string.Join(" | ", names) + " |" + Environment.NewLine + "|" + string.Concat(names.Select(_ => "---|"));
    }

    public static string Cell(double value, double ratio, string unit) =>
        double.IsNaN(value) ? "n/a" : double.IsNaN(ratio) ? Number(value, unit) : $"{Number(value, unit)} ({Ratio(ratio)})";

    public static string Ratio(double ratio) => double.IsNaN(ratio) ? "n/a" : ratio.ToString("F2", CultureInfo.InvariantCulture) + "×";

    /// <summary>Enough digits to compare, no more: rates as integers, small figures with decimals.</summary>
    public static string Number(double value, string unit)
    {
        if (double.IsNaN(value))
        {
            return "n/a";
        }
        // Below a millisecond (one-connection latencies run at 30–100 µs), a third decimal is what tells them apart.
        string format = unit.Contains("ms", StringComparison.Ordinal) && Math.Abs(value) < 1
            ? "F3"
            : unit.StartsWith("KiB", StringComparison.Ordinal) || unit.Contains("ms", StringComparison.Ordinal) && Math.Abs(value) < 10
            ? "F2"
            : Math.Abs(value) >= 100 ? "N0" : "F1";
        return value.ToString(format, CultureInfo.InvariantCulture);
    }

    /// <summary>How the measured runs were warmed up, for the report's header.</summary>
    public static string WarmupPhrase(Results results)
    {
        int[] warmups = results.Samples.Where(s => s.WarmupSeconds > 0).Select(s => s.WarmupSeconds).ToArray();
        if (warmups.Length == 0)
        {
            return "each after a 2 s warm-up";
        }
        int longer = warmups.Count(w => w > Warmup.LeastSeconds);
        string environment = results.ServerEnvironment.Count == 0
            ? string.Empty
            : $"; every server ran with {string.Join(", ", results.ServerEnvironment.Select(e => $"`{e}`"))}, so that tier-up starts as soon as the load does instead of 15–30 s into it";
        return string.Create(CultureInfo.InvariantCulture,
            $"each after a warm-up of at least {Warmup.LeastSeconds} s that went on until the server's tiered JIT compilation had settled: {longer} of {warmups.Length} warm-ups took longer, up to {warmups.Max()} s{environment}");
    }

    /// <summary>
    /// How often a loop was handed off during the samples (warm-ups included), per configuration that
    /// counts handoffs; null when no sample counted them (Sockets, or a run saved before they were counted).
    /// </summary>
    public static string? HandoffLine(Results results)
    {
        var counted = results.Samples.Where(s => s.Handoffs >= 0).GroupBy(s => s.Configuration)
            .Select(g => string.Create(CultureInfo.InvariantCulture, $"{g.Key} {g.Sum(s => s.Handoffs)} in {g.Count()} samples ({g.Count(s => s.Handoffs > 0)} with any)"))
            .ToArray();
        return counted.Length == 0 ? null : "Loop handoffs during the samples (a handler held its loop past the stall threshold): " + string.Join("; ", counted) + ".";
    }

    /// <summary>What the host check found, in one sentence for the report's header.</summary>
    public static string HostCheckLine(Results results)
    {
        if (double.IsNaN(results.HostFastestNanoseconds))
        {
            return "Host check: not run (core_probe unavailable), so every sample was taken once.";
        }
        return string.Create(CultureInfo.InvariantCulture,
            $"Host check: fastest cross-core round trip {results.HostFastestNanoseconds:F0} ns; {results.RetakenCount} of {results.Samples.Count} samples were measured again because a probe just before or after them showed a slow host phase (above {HostPhaseGuard.SlowFactor}× the fastest), {results.HostSlowCount} kept although still in one after the last attempt.");
    }
}
