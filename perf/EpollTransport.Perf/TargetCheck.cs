namespace EpollTransport.Perf;

/// <summary>How a target came out in a run.</summary>
internal enum TargetVerdict
{
    /// <summary>A configuration it is judged on has no figure (not run, failed, or not reported).</summary>
    NotMeasured,
    Fail,
    /// <summary>Epoll default meets the goal.</summary>
    Pass,
    /// <summary>Epoll inline meets the goal and Epoll default reaches the target's floor.</summary>
    PassWithInline,
}

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
    TargetVerdict Verdict,
    double BestEpollVsSocketsTuned,
    string? BestEpoll)
{
    public string Goal => $"{(HigherIsBetter ? "≥" : "≤")} {Report.Ratio(Target.Ratio)}";

    /// <summary>null when not measured.</summary>
    public bool? Pass => Verdict switch
    {
        TargetVerdict.NotMeasured => null,
        TargetVerdict.Fail => false,
        _ => true,
    };

    public bool Meets(double ratio) => AtLeast(ratio, Target.Ratio);

    public bool ReachesFloor(double ratio) => Target.DefaultFloor is double floor && AtLeast(ratio, floor);

    private bool AtLeast(double ratio, double goal) => HigherIsBetter ? ratio >= goal : ratio <= goal;
}

/// <summary>The better Epoll configuration against Sockets tuned, on a scenario's own figure.</summary>
internal sealed record TunedOutcome(
    TunedTarget Target,
    bool HigherIsBetter,
    string Unit,
    double SocketsTuned,
    double BestEpoll,
    string? BestEpollName,
    double Ratio,
    bool? Pass)
{
    public string Goal => Target.Strict
        ? $"{(HigherIsBetter ? ">" : "<")} {Report.Ratio(Target.Ratio)}"
        : $"{(HigherIsBetter ? "≥" : "≤")} {Report.Ratio(Target.Ratio)}";
}

/// <summary>Everything the perf issue asks of one run.</summary>
internal sealed record TargetReport(IReadOnlyList<TargetOutcome> Rows, IReadOnlyList<TunedOutcome> AgainstSocketsTuned)
{
    public bool IsEmpty => Rows.Count == 0 && AgainstSocketsTuned.Count == 0;

    /// <summary>Every target measured and held; a target with no figure does not count as held.</summary>
    public bool AllHold => !IsEmpty && Rows.All(r => r.Pass == true) && AgainstSocketsTuned.All(t => t.Pass == true);
}

internal static class TargetCheck
{
    /// <summary>The targets whose scenario was run, evaluated on the run's medians.</summary>
    public static TargetReport Evaluate(Results results) => new(EvaluateRows(results), EvaluateAgainstTuned(results));

    private static List<TargetOutcome> EvaluateRows(Results results)
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
                TargetVerdict.NotMeasured, best / tuned, bestName);
            outcomes.Add(outcome with { Verdict = Judge(outcome) });
        }
        return outcomes;
    }

    private static TargetVerdict Judge(TargetOutcome outcome)
    {
        if (double.IsNaN(outcome.EpollDefaultRatio))
        {
            return TargetVerdict.NotMeasured;
        }
        if (outcome.Meets(outcome.EpollDefaultRatio))
        {
            return TargetVerdict.Pass;
        }
        // NaN never meets a goal, so an inline configuration that was not run cannot carry the row.
        return outcome.Meets(outcome.EpollInlineRatio) && outcome.ReachesFloor(outcome.EpollDefaultRatio)
            ? TargetVerdict.PassWithInline
            : TargetVerdict.Fail;
    }

    private static List<TunedOutcome> EvaluateAgainstTuned(Results results)
    {
        var outcomes = new List<TunedOutcome>();
        if (!results.Has(ServerConfiguration.SocketsTuned))
        {
            return outcomes;
        }
        foreach (TunedTarget target in Targets.AgainstSocketsTuned)
        {
            if (results.Find(target.Scenario) is not Scenario scenario)
            {
                continue;
            }
            bool higherIsBetter = scenario.HigherIsBetter;
            (double best, string? bestName) = Better(
                results.Median(ServerConfiguration.EpollDefault, scenario.Name, TargetMetric.Value), ServerConfiguration.EpollDefault,
                results.Median(ServerConfiguration.EpollInline, scenario.Name, TargetMetric.Value), ServerConfiguration.EpollInline,
                higherIsBetter);
            double tuned = results.Median(ServerConfiguration.SocketsTuned, scenario.Name, TargetMetric.Value);
            double ratio = best / tuned;
            bool? pass = double.IsNaN(ratio)
                ? null
                : higherIsBetter
                    ? target.Strict ? ratio > target.Ratio : ratio >= target.Ratio
                    : target.Strict ? ratio < target.Ratio : ratio <= target.Ratio;
            outcomes.Add(new TunedOutcome(target, higherIsBetter, scenario.Unit, tuned, best, bestName, ratio, pass));
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
