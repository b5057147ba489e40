namespace EpollTransport.Perf;

/// <summary>A target evaluated on a run's medians.</summary>
internal sealed record TargetOutcome(
    Target Target,
    bool HigherIsBetter,
    string Unit,
    double SocketsDefault,
    double EpollDefault,
    double EpollDefaultRatio,
    double EpollInline,
    double EpollInlineRatio,
    bool? Pass,
    double BestEpollVsSocketsTuned,
    string? BestEpoll)
{
    public string Goal => $"{(HigherIsBetter ? "≥" : "≤")} {Report.Ratio(Target.Ratio)}";

    public bool Meets(double ratio) => HigherIsBetter ? ratio >= Target.Ratio : ratio <= Target.Ratio;
}

internal static class TargetCheck
{
    /// <summary>The targets whose scenario was run, evaluated; pass/fail is judged on Epoll default.</summary>
    public static IReadOnlyList<TargetOutcome> Evaluate(Results results)
    {
        var outcomes = new List<TargetOutcome>();
        foreach (Target target in Targets.All)
        {
            if (results.Find(target.Scenario) is not Scenario scenario)
            {
                continue;
            }
            bool higherIsBetter = target.Metric == TargetMetric.Value && scenario.HigherIsBetter;
            string unit = target.Metric switch
            {
                TargetMetric.Cpu => scenario.CpuUnit ?? string.Empty,
                TargetMetric.P99 => "ms",
                _ => scenario.Unit,
            };
            double epollDefaultRatio = results.Ratio(ServerConfiguration.EpollDefault, scenario.Name, target.Metric);
            double epollInlineRatio = results.Ratio(ServerConfiguration.EpollInline, scenario.Name, target.Metric);
            // The better Epoll configuration, against the best Sockets can do with switches alone.
            double epollDefault = results.Median(ServerConfiguration.EpollDefault, scenario.Name, target.Metric);
            double epollInline = results.Median(ServerConfiguration.EpollInline, scenario.Name, target.Metric);
            (double best, string? bestName) = Better(epollDefault, ServerConfiguration.EpollDefault, epollInline, ServerConfiguration.EpollInline, higherIsBetter);
            double tuned = results.Median(ServerConfiguration.SocketsTuned, scenario.Name, target.Metric);
            var outcome = new TargetOutcome(
                target, higherIsBetter, unit,
                results.Median(ServerConfiguration.Baseline, scenario.Name, target.Metric),
                epollDefault, epollDefaultRatio, epollInline, epollInlineRatio,
                Pass: null, best / tuned, bestName);
            outcomes.Add(outcome with { Pass = double.IsNaN(epollDefaultRatio) ? null : outcome.Meets(epollDefaultRatio) });
        }
        return outcomes;
    }

    private static (double Value, string? Name) Better(double a, string aName, double b, string bName, bool higherIsBetter)
    {
        if (double.IsNaN(a))
        {
            return double.IsNaN(b) ? (double.NaN, null) : (b, bName);
        }
        if (double.IsNaN(b))
        {
            return (a, aName);
        }
        return (higherIsBetter ? a >= b : a <= b) ? (a, aName) : (b, bName);
    }
}
