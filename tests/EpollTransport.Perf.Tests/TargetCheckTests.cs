using Xunit;

namespace EpollTransport.Perf.Tests;

public sealed class TargetCheckTests
{
    private const string SocketsDefault = ServerConfiguration.Baseline;
    private const string SocketsTuned = ServerConfiguration.SocketsTuned;
    private const string EpollDefault = ServerConfiguration.EpollDefault;
    private const string EpollInline = ServerConfiguration.EpollInline;

    [Fact]
    public void ARowPassesWhenEpollDefaultMeetsItsGoal()
    {
        TargetOutcome row = Row(Run(ScenarioCatalog.Plaintext64, (SocketsDefault, 100), (EpollDefault, 126), (EpollInline, 110)), ScenarioCatalog.Plaintext64, TargetMetric.Value);

        Assert.Equal(TargetVerdict.Pass, row.Verdict);
    }

    [Theory]
    [InlineData(112, nameof(TargetVerdict.PassWithInline))] // inline 1.30×, default still ≥ 1.10×
    [InlineData(109, nameof(TargetVerdict.Fail))]           // inline 1.30×, but default below the floor
    public void InlineCarriesAThroughputRowOnlyWithDefaultAtTheFloor(double epollDefault, string expected)
    {
        Results run = Run(ScenarioCatalog.Plaintext64, (SocketsDefault, 100), (EpollDefault, epollDefault), (EpollInline, 130));

        Assert.Equal(Enum.Parse<TargetVerdict>(expected), Row(run, ScenarioCatalog.Plaintext64, TargetMetric.Value).Verdict);
    }

    [Theory]
    [InlineData(9.4, nameof(TargetVerdict.PassWithInline))] // inline 0.70×, default 0.94× (≤ 0.95×)
    [InlineData(9.6, nameof(TargetVerdict.Fail))]           // default 0.96×
    public void InlineCarriesACpuRowOnlyWithDefaultAtMost095(double epollDefaultCpu, string expected)
    {
        Results run = Run(ScenarioCatalog.Json, (SocketsDefault, 100, 10.0), (EpollDefault, 130, epollDefaultCpu), (EpollInline, 130, 7.0));

        Assert.Equal(Enum.Parse<TargetVerdict>(expected), Row(run, ScenarioCatalog.Json, TargetMetric.Cpu).Verdict);
    }

    [Fact]
    public void InlineNeverCarriesAP99Row()
    {
        Results run = Run(ScenarioCatalog.Plaintext64, (SocketsDefault, 100, 10.0, 2.0), (EpollDefault, 130, 8.0, 2.1), (EpollInline, 130, 7.0, 1.0));

        Assert.Equal(TargetVerdict.Fail, Row(run, ScenarioCatalog.Plaintext64, TargetMetric.P99).Verdict);
    }

    [Fact]
    public void AnUnmeasuredRowIsNeitherPassedNorFailedAndKeepsTheRunFromHolding()
    {
        Results run = Run(ScenarioCatalog.Plaintext64, (SocketsDefault, 100, 10.0, double.NaN), (SocketsTuned, 100, 10.0, double.NaN),
            (EpollDefault, 130, 8.0, double.NaN), (EpollInline, 150, 7.0, double.NaN));
        TargetReport report = TargetCheck.Evaluate(run);

        Assert.Equal(TargetVerdict.NotMeasured, Row(run, ScenarioCatalog.Plaintext64, TargetMetric.P99).Verdict);
        Assert.All(report.Rows.Where(r => r.Target.Metric != TargetMetric.P99), r => Assert.True(r.Pass));
        Assert.All(report.AgainstSocketsTuned, t => Assert.True(t.Pass));
        Assert.False(report.AllHold);
    }

    [Theory]
    [InlineData(ScenarioCatalog.Plaintext64, 109, false)]    // plaintext needs ≥ 1.10× Sockets tuned
    [InlineData(ScenarioCatalog.Plaintext64, 110, true)]
    [InlineData(ScenarioCatalog.EchoInFlight, 100, false)]   // elsewhere "beats" means strictly better
    [InlineData(ScenarioCatalog.EchoInFlight, 101, true)]
    public void TheBetterEpollConfigurationMustBeatSocketsTuned(string scenario, double bestEpoll, bool expected)
    {
        Results run = Run(scenario, (SocketsDefault, 80), (SocketsTuned, 100), (EpollDefault, 90), (EpollInline, bestEpoll));

        TunedOutcome outcome = Assert.Single(TargetCheck.Evaluate(run).AgainstSocketsTuned);
        Assert.Equal(expected, outcome.Pass);
        Assert.Equal(EpollInline, outcome.BestEpollName);
    }

    [Fact]
    public void ForMemoryBeatingSocketsTunedMeansLess()
    {
        Results run = Run(ScenarioCatalog.Idle, (SocketsDefault, 9.1), (SocketsTuned, 9.1), (EpollDefault, 8.1), (EpollInline, 8.3));

        TunedOutcome outcome = Assert.Single(TargetCheck.Evaluate(run).AgainstSocketsTuned);
        Assert.True(outcome.Pass);
        Assert.Equal(EpollDefault, outcome.BestEpollName);
        Assert.Equal("< 1.00×", outcome.Goal);
    }

    [Fact]
    public void ARunHoldsWhenEveryRowAndEveryScenarioAgainstSocketsTunedHolds()
    {
        Results run = Run(ScenarioCatalog.EchoStream, (SocketsDefault, 1000), (SocketsTuned, 700), (EpollDefault, 1300), (EpollInline, 1200));

        Assert.True(TargetCheck.Evaluate(run).AllHold);
    }

    [Fact]
    public void ASavedRunReadsBackToTheSameVerdicts()
    {
        Results run = Run(ScenarioCatalog.Plaintext64, (SocketsDefault, 100, 10.0, 2.0), (SocketsTuned, 120, 8.0, 6.0), (EpollDefault, 112, 9.4, 1.8), (EpollInline, 132, 7.0, 6.5));
        TargetReport report = TargetCheck.Evaluate(run);
        string path = Path.Combine(Path.GetTempPath(), $"perf-results-{Guid.NewGuid():N}.json");
        try
        {
            File.WriteAllText(path, ResultFiles.Json(run, report, "test"));

            Results loaded = ResultsReader.Load(path);

            Assert.Equal(run.StartedUtc, loaded.StartedUtc);
            Assert.Equal(run.Samples, loaded.Samples);
            Assert.Equal(report.Rows.Select(r => r.Verdict), TargetCheck.Evaluate(loaded).Rows.Select(r => r.Verdict));
            Assert.Equal(report.Rows.Select(r => r.Verdict), [TargetVerdict.PassWithInline, TargetVerdict.PassWithInline, TargetVerdict.Pass]);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void AFileThatIsNotARunIsRejectedWithItsPath()
    {
        string path = Path.Combine(Path.GetTempPath(), $"not-a-run-{Guid.NewGuid():N}.json");
        try
        {
            File.WriteAllText(path, "{\"stamp\": \"x\"}");

            var error = Assert.Throws<InvalidDataException>(() => ResultsReader.Load(path));
            Assert.Contains(path, error.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void SeveralRunsAreTalliedPerTarget()
    {
        Results held = Run(ScenarioCatalog.EchoStream, (SocketsDefault, 1000), (SocketsTuned, 700), (EpollDefault, 1300), (EpollInline, 1200));
        Results missed = Run(ScenarioCatalog.EchoStream, (SocketsDefault, 1000), (SocketsTuned, 700), (EpollDefault, 950), (EpollInline, 900));

        string text = RunHistoryReport.Render([held, missed]);

        Assert.Contains("| echo 64 KiB streaming (16 conns) | ≥ 1.00× | 1 of 2 | 0.95× / 1.12× / 1.30× | 1.05× |", text);
    }

    /// <summary>One scenario, one sample per configuration: (configuration, value[, CPU ms[, p99 ms]]).</summary>
    private static Results Run(string scenario, params (string Configuration, double Value, double Cpu, double P99)[] samples)
        => new(
            ServerConfiguration.All.Where(c => samples.Any(s => s.Configuration == c.Name)).ToArray(),
            [ScenarioCatalog.All.Single(s => s.Name == scenario)],
            samples.Select(s => new Sample(s.Configuration, scenario, 1, s.Value, s.P99, s.Cpu, null)).ToArray(),
            rounds: 1, seconds: 5, "None", new DateTime(2026, 12, 1, 12, 0, 0, DateTimeKind.Utc));

    private static Results Run(string scenario, params (string Configuration, double Value)[] samples)
        => Run(scenario, samples.Select(s => (s.Configuration, s.Value, double.NaN, double.NaN)).ToArray());

    private static Results Run(string scenario, params (string Configuration, double Value, double Cpu)[] samples)
        => Run(scenario, samples.Select(s => (s.Configuration, s.Value, s.Cpu, double.NaN)).ToArray());

    private static TargetOutcome Row(Results run, string scenario, TargetMetric metric)
        => TargetCheck.Evaluate(run).Rows.Single(r => r.Target.Scenario == scenario && r.Target.Metric == metric);
}
