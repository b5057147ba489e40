namespace EpollTransport.Perf;

internal enum TargetMetric
{
    /// <summary>The scenario's own value (throughput, or memory per connection).</summary>
    Value,
    Cpu,
    P99,
}

/// <summary>
/// A goal for Epoll default relative to Sockets default: the ratio must be at least
/// <see cref="Ratio"/> where higher is better (throughput) and at most it where lower is better
/// (CPU, p99, memory). Where <see cref="DefaultFloor"/> is set, the issue also accepts Epoll inline
/// reaching <see cref="Ratio"/> while Epoll default still reaches the floor.
/// </summary>
internal sealed record Target(string Scenario, TargetMetric Metric, double Ratio, double? DefaultFloor = null)
{
    public string Label => Metric switch
    {
        // Every CPU target is on an HTTP scenario, where the unit of work is a request.
        TargetMetric.Cpu => $"{Scenario}: CPU per 1k req",
        TargetMetric.P99 => $"{Scenario}: p99",
        _ => Scenario,
    };
}

/// <summary>
/// A goal for the better Epoll configuration against Sockets tuned on a scenario's own figure: at
/// least <see cref="Ratio"/> (at most, where lower is better), or strictly better than that when
/// <see cref="Strict"/> ("beats").
/// </summary>
internal sealed record TunedTarget(string Scenario, double Ratio, bool Strict);

/// <summary>The perf issue's targets, in one place.</summary>
internal static class Targets
{
    private const double CpuPerRequest = 0.85;
    private const double P99NotWorse = 1.00;

    // "Where a row is reachable only with inline scheduling, show Epoll inline reaching it and Epoll
    // default still at ≥ 1.10× (≤ 0.95× for the CPU and memory rows)." Only rows whose goal is beyond
    // that floor get one (churn, h2c, streaming and memory would need default to meet the goal anyway),
    // and p99 is not a row of that table.
    private const double ThroughputFloor = 1.10;
    private const double CpuFloor = 0.95;

    public static IReadOnlyList<Target> All { get; } = Build();

    /// <summary>
    /// "In every scenario the better Epoll configuration beats Sockets tuned — by ≥ 1.10× in plaintext
    /// and echo 64 B."
    /// </summary>
    public static IReadOnlyList<TunedTarget> AgainstSocketsTuned { get; } = ScenarioCatalog.All
        .Select(s => s.Name is ScenarioCatalog.Plaintext64 or ScenarioCatalog.Plaintext256 or ScenarioCatalog.EchoPingPong
            ? new TunedTarget(s.Name, 1.10, Strict: false)
            : new TunedTarget(s.Name, 1.00, Strict: true))
        .ToArray();

    private static Target[] Build()
    {
        var targets = new List<Target>
        {
            // "plaintext ≥1.25×" is held to at both connection counts.
            new(ScenarioCatalog.Plaintext64, TargetMetric.Value, 1.25, ThroughputFloor),
            new(ScenarioCatalog.Plaintext256, TargetMetric.Value, 1.25, ThroughputFloor),
            new(ScenarioCatalog.Pipelined, TargetMetric.Value, 1.15, ThroughputFloor),
            new(ScenarioCatalog.Json, TargetMetric.Value, 1.20, ThroughputFloor),
            new(ScenarioCatalog.Churn, TargetMetric.Value, 1.10),
            new(ScenarioCatalog.H2c, TargetMetric.Value, 1.00),
            new(ScenarioCatalog.EchoPingPong, TargetMetric.Value, 1.60, ThroughputFloor),
            new(ScenarioCatalog.EchoStream, TargetMetric.Value, 1.00),
            new(ScenarioCatalog.Idle, TargetMetric.Value, 1.00),
        };
        // Efficiency: server CPU per 1,000 requests, in every HTTP scenario.
        targets.AddRange(ScenarioCatalog.All.Where(s => s.IsHttp).Select(s => new Target(s.Name, TargetMetric.Cpu, CpuPerRequest, CpuFloor)));
        // p99 not worse than Sockets default, wherever the load generator reports it.
        targets.AddRange(ScenarioCatalog.All.Where(s => s.HasP99).Select(s => new Target(s.Name, TargetMetric.P99, P99NotWorse)));
        return targets.ToArray();
    }
}
