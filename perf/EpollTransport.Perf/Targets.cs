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
/// (CPU, p99, memory).
/// </summary>
internal sealed record Target(string Scenario, TargetMetric Metric, double Ratio)
{
    public string Label => Metric switch
    {
        // Every CPU target is on an HTTP scenario, where the unit of work is a request.
        TargetMetric.Cpu => $"{Scenario}: CPU per 1k req",
        TargetMetric.P99 => $"{Scenario}: p99",
        _ => Scenario,
    };
}

/// <summary>The perf issue's targets, in one place.</summary>
internal static class Targets
{
    private const double CpuPerRequest = 0.85;
    private const double P99NotWorse = 1.00;

    public static IReadOnlyList<Target> All { get; } = Build();

    private static Target[] Build()
    {
        var targets = new List<Target>
        {
            // "plaintext ≥1.25×" is held to at both connection counts.
            new(ScenarioCatalog.Plaintext64, TargetMetric.Value, 1.25),
            new(ScenarioCatalog.Plaintext256, TargetMetric.Value, 1.25),
            new(ScenarioCatalog.Pipelined, TargetMetric.Value, 1.15),
            new(ScenarioCatalog.Json, TargetMetric.Value, 1.20),
            new(ScenarioCatalog.Churn, TargetMetric.Value, 1.10),
            new(ScenarioCatalog.H2c, TargetMetric.Value, 1.00),
            new(ScenarioCatalog.EchoPingPong, TargetMetric.Value, 1.60),
            new(ScenarioCatalog.EchoStream, TargetMetric.Value, 1.00),
            new(ScenarioCatalog.Idle, TargetMetric.Value, 1.00),
        };
        // Efficiency: server CPU per 1,000 requests, in every HTTP scenario.
        targets.AddRange(ScenarioCatalog.All.Where(s => s.IsHttp).Select(s => new Target(s.Name, TargetMetric.Cpu, CpuPerRequest)));
        // p99 not worse than Sockets default, wherever the load generator reports it.
        targets.AddRange(ScenarioCatalog.All.Where(s => s.HasP99).Select(s => new Target(s.Name, TargetMetric.P99, P99NotWorse)));
        return targets.ToArray();
    }
}
