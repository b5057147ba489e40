namespace EpollTransport.Perf;

/// <summary>A target evaluated on one setup's medians; NaN figures where nothing was measured.</summary>
internal sealed record TargetOutcome(
    Target Target,
    bool HigherIsBetter,
    string Unit,
    double Reference,
    double Value,
    double Ratio,
    bool? Pass,
    double VersusSocketsTuned)
{
    public string Goal => $"{(HigherIsBetter, Target.Strict) switch { (true, false) => "≥", (true, true) => ">", (false, false) => "≤", (false, true) => "<" }} {Report.Ratio(Target.Ratio)}";

    /// <summary>Whether <paramref name="ratio"/> meets the goal; NaN never does.</summary>
    public static bool Meets(Target target, bool higherIsBetter, double ratio) => (higherIsBetter, target.Strict) switch
    {
        (true, false) => ratio >= target.Ratio,
        (true, true) => ratio > target.Ratio,
        (false, false) => ratio <= target.Ratio,
        (false, true) => ratio < target.Ratio,
    };
}

/// <summary>Everything the issue asks of one core setup, in three groups by the configuration compared with.</summary>
internal sealed record SetupTargets(CorePlacement Placement, IReadOnlyList<TargetOutcome> Outcomes)
{
    public CoreSetup Setup => Placement.Setup;

    public IReadOnlyList<TargetOutcome> AgainstSocketsDefault => Of(ServerConfiguration.Baseline);

    public IReadOnlyList<TargetOutcome> AgainstSocketsTuned => Of(ServerConfiguration.SocketsTuned);

    public IReadOnlyList<TargetOutcome> AgainstThreadPool => Of(ServerConfiguration.EpollDefault);

    /// <summary>Targets with a figure, and those of them that hold.</summary>
    public int Judged => Outcomes.Count(o => o.Pass is not null);

    public int Held => Outcomes.Count(o => o.Pass == true);

    public bool AllHold => Outcomes.Count > 0 && Outcomes.All(o => o.Pass == true);

    /// <summary>"12 of 41 targets hold (…)" for the summary.</summary>
    public string Summary
    {
        get
        {
            int notMeasured = Outcomes.Count - Judged;
            string groups = string.Join(", ", new[] { ServerConfiguration.Baseline, ServerConfiguration.SocketsTuned, ServerConfiguration.EpollDefault }
                .Select(against => (against, outcomes: Of(against)))
                .Where(g => g.outcomes.Length > 0)
                .Select(g => FormattableString.Invariant($"{g.outcomes.Count(o => o.Pass == true)} of {g.outcomes.Count(o => o.Pass is not null)} against {g.against}")));
            return FormattableString.Invariant($"{Held} of {Judged} targets hold ({groups}){(notMeasured > 0 ? FormattableString.Invariant($"; {notMeasured} not measured") : string.Empty)}");
        }
    }

    private TargetOutcome[] Of(string against) => Outcomes.Where(o => o.Target.Against == against).ToArray();
}

/// <summary>The targets of every setup a run took.</summary>
internal sealed record TargetReport(IReadOnlyList<SetupTargets> Setups)
{
    public bool IsEmpty => Setups.All(s => s.Outcomes.Count == 0);

    /// <summary>Every target measured and held in every setup; a target with no figure does not count as held.</summary>
    public bool AllHold => !IsEmpty && Setups.All(s => s.AllHold);

    public SetupTargets? For(CoreSetup setup) => Setups.FirstOrDefault(s => s.Setup == setup);
}

internal static class TargetCheck
{
    /// <summary>
    /// Per setup the run took, the targets whose scenario ran there, evaluated on that setup's medians.
    /// A target needs the configuration it judges and the one it is compared with in the run; a run from
    /// before safe inline is not judged at all (<see cref="Results.PredatesSafeInline"/>).
    /// </summary>
    public static TargetReport Evaluate(Results results) =>
        new(results.Setups.Select(setup => results.PredatesSafeInline ? new SetupTargets(results.Placement(setup), []) : EvaluateSetup(results.For(setup))).ToArray());

    private static SetupTargets EvaluateSetup(Results setup)
    {
        var outcomes = new List<TargetOutcome>();
        foreach (Target target in Targets.For(setup.Setup, setup.BusyNeighbours > 0))
        {
            if (!setup.Has(target.Judged) || !setup.Has(target.Against) || setup.Find(target.Scenario) is not Scenario scenario)
            {
                continue;
            }
            bool higherIsBetter = target.Metric == TargetMetric.Value && scenario.HigherIsBetter;
            string unit = target.Metric switch
            {
                TargetMetric.Cpu => scenario.CpuUnit ?? string.Empty,
                TargetMetric.P99 or TargetMetric.P50 => "ms",
                _ => scenario.Unit,
            };
            double ratio = setup.Ratio(target.Judged, scenario.Name, target.Metric, target.Against);
            outcomes.Add(new TargetOutcome(
                target, higherIsBetter, unit,
                setup.Median(target.Against, scenario.Name, target.Metric),
                setup.Median(target.Judged, scenario.Name, target.Metric),
                ratio,
                double.IsNaN(ratio) ? null : TargetOutcome.Meets(target, higherIsBetter, ratio),
                setup.Ratio(target.Judged, scenario.Name, target.Metric, ServerConfiguration.SocketsTuned)));
        }
        return new SetupTargets(setup.Placement(setup.Setup), outcomes);
    }
}
