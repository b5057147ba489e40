namespace EpollTransport.Perf;

/// <summary>
/// One measured run of one scenario on one configuration; NaN figures and an error when it failed. The
/// probes are the cross-core round trips just before and after it (NaN without the host check);
/// <paramref name="Attempts"/> counts measurements, more than one when a slow host phase was caught, and
/// <paramref name="HostSlow"/> says the kept one was still in such a phase. <paramref name="WarmupSeconds"/>
/// is the warm-up before the kept measurement: 0 where not recorded (runs before the warm-up watched the
/// JIT, which warmed up for a fixed 2 s) or where the scenario has no warm-up of its own.
/// <paramref name="Setup"/> is where the server and the load ran (runs before the setups existed were shared).
/// <paramref name="P50Milliseconds"/> is NaN unless the scenario measures the median latency.
/// </summary>
internal sealed record Sample(string Configuration, string Scenario, int Round, double Value, double P99Milliseconds, double CpuMilliseconds, string? Error,
    double ProbeBeforeNanoseconds = double.NaN, double ProbeAfterNanoseconds = double.NaN, int Attempts = 1, bool HostSlow = false, int WarmupSeconds = 0,
    CoreSetup Setup = CoreSetup.Shared, long Handoffs = -1, double P50Milliseconds = double.NaN);

/// <summary>
/// The samples of a suite run, with medians and ratios to the baseline configuration. Figures are per
/// core setup: a run with more than one setup gives them through <see cref="For"/>, which keeps one
/// setup's samples and the scenarios that ran in it.
/// </summary>
/// <param name="setups">The setups the run took, in order; by default the ones its samples came from (shared when there are none).</param>
/// <param name="processors">CPUs of the machine the run was taken on (this one unless given), which decides the dedicated setup's pinning.</param>
/// <param name="predatesSafeInline">A saved run from before safe inline scheduling, its configurations renamed (<see cref="ServerConfiguration.NamesBeforeSafeInline"/>).</param>
/// <param name="serverEnvironment">NAME=VALUE settings every configuration's server had (<see cref="DemoServerProcess.RuntimeEnvironment"/>); none for runs saved before they were recorded.</param>
/// <param name="busyNeighbours">Spinning processes beside the server during every sample (<see cref="BusyNeighbours"/>); 0 for none, and for runs saved before the switch existed.</param>
internal sealed class Results(IReadOnlyList<ServerConfiguration> configurations, IReadOnlyList<Scenario> scenarios, IReadOnlyList<Sample> samples, int rounds, int seconds, string appLogLevel, DateTime startedUtc, double hostFastestNanoseconds = double.NaN,
    IReadOnlyList<CoreSetup>? setups = null, int? processors = null, bool predatesSafeInline = false, IReadOnlyList<string>? serverEnvironment = null, int busyNeighbours = 0)
{
    /// <summary>Spinning processes beside the server during every sample; 0 for an ordinary run.</summary>
    public int BusyNeighbours { get; } = busyNeighbours;

    /// <summary>NAME=VALUE settings every configuration's server had, beyond its own.</summary>
    public IReadOnlyList<string> ServerEnvironment { get; } = serverEnvironment ?? [];

    public IReadOnlyList<ServerConfiguration> Configurations { get; } = configurations;

    /// <summary>Every scenario the run selected; a setup's view keeps those that ran in it.</summary>
    public IReadOnlyList<Scenario> Scenarios { get; } = scenarios;

    public IReadOnlyList<Sample> Samples { get; } = samples;

    public IReadOnlyList<CoreSetup> Setups { get; } = setups ?? (samples.Count == 0 ? [CoreSetup.Shared] : samples.Select(s => s.Setup).Distinct().Order().ToArray());

    public int Processors { get; } = processors ?? Environment.ProcessorCount;

    /// <summary>Saved before safe inline: no configuration of it is today's Epoll default, so the targets cannot judge it.</summary>
    public bool PredatesSafeInline { get; } = predatesSafeInline;

    public CorePlacement Placement(CoreSetup setup) => new(setup, Processors);

    /// <summary>One setup's samples, and the scenarios that ran in it.</summary>
    public Results For(CoreSetup setup) => new(Configurations, Scenarios.Where(s => s.RunsIn(setup)).ToArray(), Samples.Where(s => s.Setup == setup).ToArray(),
        Rounds, Seconds, AppLogLevel, StartedUtc, HostFastestNanoseconds, [setup], Processors, PredatesSafeInline, ServerEnvironment, BusyNeighbours);

    /// <summary>The only setup of a setup's view (see <see cref="For"/>).</summary>
    public CoreSetup Setup => Setups.Count == 1
        ? Setups[0]
        : throw new InvalidOperationException($"This run has {Setups.Count} core setups; take one with For(setup) first.");

    public int Rounds { get; } = rounds;

    public int Seconds { get; } = seconds;

    /// <summary>DemoWeb's default log level during the run.</summary>
    public string AppLogLevel { get; } = appLogLevel;

    public DateTime StartedUtc { get; } = startedUtc;

    /// <summary>When the run started ("20261201-170224").</summary>
    public string Stamp => StartedUtc.ToString("yyyyMMdd-HHmmss", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>What the run's result files are named by: the stamp, and "-busy2" after it for a run with two busy neighbours.</summary>
    public string FileStem => BusyNeighbours > 0 ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{Stamp}-busy{BusyNeighbours}") : Stamp;

    /// <summary>The fastest cross-core round trip the host check saw; NaN when it did not run.</summary>
    public double HostFastestNanoseconds { get; } = hostFastestNanoseconds;

    /// <summary>Samples measured more than once because a slow host phase was caught around them.</summary>
    public int RetakenCount => Samples.Count(s => s.Attempts > 1);

    /// <summary>Samples kept although the host was still in a slow phase after the last attempt.</summary>
    public int HostSlowCount => Samples.Count(s => s.HostSlow);

    /// <summary>
    /// Every scenario on every configuration of the default set in both setups, without busy neighbours:
    /// only such a run may stand as "latest".
    /// </summary>
    public bool IsComplete =>
        ServerConfiguration.DefaultSet.All(d => Has(d.Name))
        && Scenarios.Count == ScenarioCatalog.All.Length
        && Setups.Contains(CoreSetup.Shared) && Setups.Contains(CoreSetup.Dedicated)
        && BusyNeighbours == 0;

    public bool Has(string configuration) => Configurations.Any(c => c.Name == configuration);

    public Scenario? Find(string scenario) => Scenarios.FirstOrDefault(s => s.Name == scenario);

    /// <summary>Median over the samples that succeeded; NaN when none did. Only for one setup (<see cref="For"/>).</summary>
    public double Median(string configuration, string scenario, TargetMetric metric) => MedianOf(Samples
        .Where(s => s.Configuration == configuration && s.Scenario == scenario && s.Setup == Setup)
        .Select(s => metric switch
        {
            TargetMetric.Cpu => s.CpuMilliseconds,
            TargetMetric.P99 => s.P99Milliseconds,
            TargetMetric.P50 => s.P50Milliseconds,
            _ => s.Value,
        }));

    /// <summary>Median of the values that are not NaN; NaN when none is.</summary>
    public static double MedianOf(IEnumerable<double> values)
    {
        double[] sorted = values.Where(v => !double.IsNaN(v)).Order().ToArray();
        if (sorted.Length == 0)
        {
            return double.NaN;
        }
        int middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }

    /// <summary>Median of <paramref name="configuration"/> over the median of <paramref name="reference"/> (the baseline unless given).</summary>
    public double Ratio(string configuration, string scenario, TargetMetric metric, string reference = ServerConfiguration.Baseline) =>
        Median(configuration, scenario, metric) / Median(reference, scenario, metric);

    public int FailedCount(string configuration, string scenario) =>
        Samples.Count(s => s.Configuration == configuration && s.Scenario == scenario && s.Setup == Setup && s.Error is not null);
}
