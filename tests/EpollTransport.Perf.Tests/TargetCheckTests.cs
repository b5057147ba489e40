using Xunit;

namespace EpollTransport.Perf.Tests;

public sealed class TargetCheckTests
{
    private const string SocketsDefault = ServerConfiguration.Baseline;
    private const string SocketsTuned = ServerConfiguration.SocketsTuned;
    private const string EpollSafeInline = ServerConfiguration.EpollSafeInline;
    private const string ThreadPool = ServerConfiguration.EpollDefault;

    /// <summary>What the targets against Sockets judge: the default UseEpollTransport() gives (thread-pool dispatch).</summary>
    private const string Judged = ServerConfiguration.Judged;

    [Fact]
    public void TheTargetsAgainstSocketsJudgeTheDefaultAndSafeInlineIsJudgedAgainstIt()
    {
        Assert.Equal(ThreadPool, Judged);
        Assert.All(Targets.For(CoreSetup.Shared).Where(t => t.Against != ThreadPool), t => Assert.Equal(ThreadPool, t.Judged));
        Assert.All(Targets.For(CoreSetup.Shared).Where(t => t.Against == ThreadPool), t => Assert.Equal(EpollSafeInline, t.Judged));
    }

    [Theory]
    [InlineData(ScenarioCatalog.Plaintext64, 139, false)]
    [InlineData(ScenarioCatalog.Plaintext64, 140, true)]  // ≥ 1.40×
    [InlineData(ScenarioCatalog.Plaintext256, 139, false)]
    [InlineData(ScenarioCatalog.Pipelined, 115, true)]    // ≥ 1.15×
    [InlineData(ScenarioCatalog.Json, 129, false)]        // ≥ 1.30×
    [InlineData(ScenarioCatalog.Churn, 110, true)]        // ≥ 1.10×
    [InlineData(ScenarioCatalog.H2c, 100, true)]          // ≥ 1.00×
    [InlineData(ScenarioCatalog.EchoPingPong, 159, false)] // ≥ 1.60×
    [InlineData(ScenarioCatalog.EchoStream, 120, true)]   // ≥ 1.20×
    [InlineData(ScenarioCatalog.OneConnectionPlaintext, 119, false)] // ≥ 1.20× (issue 24)
    [InlineData(ScenarioCatalog.OneConnectionPlaintext, 120, true)]
    [InlineData(ScenarioCatalog.OneConnectionHttps11, 114, false)]   // ≥ 1.15×
    [InlineData(ScenarioCatalog.OneConnectionHttps11, 115, true)]
    [InlineData(ScenarioCatalog.OneConnectionH2c, 100, true)]        // ≥ 1.00×
    [InlineData(ScenarioCatalog.OneConnectionHttps2, 99, false)]     // ≥ 1.00×
    [InlineData(ScenarioCatalog.HttpsJson64, 100, true)]             // ≥ 1.00×
    [InlineData(ScenarioCatalog.Upload64B, 99, false)]               // ≥ 1.00× in MiB/s (issue 27)
    [InlineData(ScenarioCatalog.Upload64KiB, 100, true)]
    [InlineData(ScenarioCatalog.UploadDefault, 101, true)]
    public void AThroughputRowPassesWhenEpollDefaultMeetsItsGoal(string scenario, double epollDefault, bool expected)
    {
        Results run = Run(scenario, (SocketsDefault, 100), (Judged, epollDefault));

        Assert.Equal(expected, Row(run, scenario, TargetMetric.Value).Pass);
    }

    [Fact]
    public void CpuRowsAreThePlaintextEchoJsonAndH2cOnesWithTheirOwnGoals()
    {
        var cpu = Targets.For(CoreSetup.Shared).Where(t => t.Against == SocketsDefault && t.Metric == TargetMetric.Cpu)
            .ToDictionary(t => t.Scenario, t => t.Ratio);

        Assert.Equal(
            new Dictionary<string, double>
            {
                [ScenarioCatalog.Plaintext64] = 0.80,
                [ScenarioCatalog.Plaintext256] = 0.80,
                [ScenarioCatalog.EchoPingPong] = 0.80,
                [ScenarioCatalog.Json] = 0.80,
                [ScenarioCatalog.H2c] = 0.95,
                [ScenarioCatalog.OneConnectionPlaintext] = 0.80,
                [ScenarioCatalog.OneConnectionHttps11] = 0.80,
                [ScenarioCatalog.OneConnectionH2c] = 0.80,
                [ScenarioCatalog.OneConnectionHttps2] = 0.80,
            },
            cpu);
    }

    [Fact]
    public void UploadsAreJudgedInMiBPerSecondWhereMoreIsBetter()
    {
        Results run = Run(ScenarioCatalog.Upload64B, (SocketsDefault, 700), (Judged, 170));

        TargetOutcome row = Row(run, ScenarioCatalog.Upload64B, TargetMetric.Value);
        Assert.True(row.HigherIsBetter);
        Assert.Equal("MiB/s", row.Unit);
        Assert.Equal("≥ 1.00×", row.Goal);
        Assert.False(row.Pass);
    }

    [Fact]
    public void WithBusyNeighboursOneConnectionNeedsOnlyToKeepUpWithSockets()
    {
        foreach (CoreSetup setup in new[] { CoreSetup.Shared, CoreSetup.Dedicated })
        {
            Target[] quiet = [.. Targets.For(setup)];
            Target[] busy = [.. Targets.For(setup, busy: true)];

            Assert.Equal(1.20, Targets.AgainstBaseline(setup, ScenarioCatalog.OneConnectionPlaintext, TargetMetric.Value)!.Ratio);
            Assert.Equal(1.15, Targets.AgainstBaseline(setup, ScenarioCatalog.OneConnectionHttps11, TargetMetric.Value)!.Ratio);
            Assert.Equal(1.00, Targets.AgainstBaseline(setup, ScenarioCatalog.OneConnectionPlaintext, TargetMetric.Value, busy: true)!.Ratio);
            Assert.Equal(1.00, Targets.AgainstBaseline(setup, ScenarioCatalog.OneConnectionHttps11, TargetMetric.Value, busy: true)!.Ratio);
            // Everything else is the same table.
            Assert.Equal(quiet.Length, busy.Length);
            Assert.Equal(2, quiet.Zip(busy).Count(pair => pair.First != pair.Second));
        }

        var sample = (string configuration, double value) => new Sample(configuration, ScenarioCatalog.OneConnectionPlaintext, 1, value, double.NaN, double.NaN, null);
        Results run = new(ServerConfiguration.All.Where(c => c.Name is SocketsDefault or Judged).ToArray(), [ScenarioCatalog.Find(ScenarioCatalog.OneConnectionPlaintext)!],
            [sample(SocketsDefault, 2000), sample(Judged, 2050)], 1, 5, "None", s_started, setups: [CoreSetup.Shared], processors: 2, busyNeighbours: 2);
        TargetOutcome row = TargetCheck.Evaluate(run).Setups.Single().AgainstSocketsDefault.Single(r => r.Target.Metric == TargetMetric.Value);
        Assert.Equal("≥ 1.00×", row.Goal);
        Assert.True(row.Pass);
    }

    [Theory]
    [InlineData(8.0, true)]  // 0.80×
    [InlineData(8.1, false)]
    public void TheEchoCpuRowIsJudgedOnCpuPerThousandMessages(double epollDefaultCpu, bool expected)
    {
        Results run = Run(ScenarioCatalog.EchoPingPong, (SocketsDefault, 100, 10.0, 1.0), (Judged, 170, epollDefaultCpu, 0.5));

        TargetOutcome row = Row(run, ScenarioCatalog.EchoPingPong, TargetMetric.Cpu);
        Assert.Equal(expected, row.Pass);
        Assert.Equal("echo 64 B ping-pong (64 conns): CPU per 1k msg", row.Target.Label);
        Assert.Equal("CPU ms / 1k msg", row.Unit);
        Assert.Equal("≤ 0.80×", row.Goal);
    }

    [Fact]
    public void EveryScenarioWithAP99HasAP99RowInBothSetups()
    {
        foreach (CoreSetup setup in new[] { CoreSetup.Shared, CoreSetup.Dedicated })
        {
            Assert.Equal(
                ScenarioCatalog.All.Where(s => s.HasP99).Select(s => s.Name),
                Targets.For(setup).Where(t => t.Metric == TargetMetric.P99).Select(t => t.Scenario));
            Assert.All(Targets.For(setup).Where(t => t.Metric == TargetMetric.P99), t => Assert.Equal(1.00, t.Ratio));
        }
    }

    [Fact]
    public void IdleMemoryIsATargetWithSharedCoresOnly()
    {
        Assert.Contains(Targets.For(CoreSetup.Shared), t => t.Scenario == ScenarioCatalog.Idle && t.Against == SocketsDefault && t.Ratio == 1.00);
        Assert.DoesNotContain(Targets.For(CoreSetup.Dedicated), t => t.Scenario == ScenarioCatalog.Idle);
        // Everything else is the same in both setups.
        Assert.Equal(Targets.For(CoreSetup.Shared).Where(t => t.Scenario != ScenarioCatalog.Idle), Targets.For(CoreSetup.Dedicated));
    }

    [Fact]
    public void EachSetupCountsItsTargetsInThreeGroups()
    {
        // Against Sockets default: 17 figures (16 without idle), 9 CPU rows, 12 p99 rows; then one per scenario against each of the other two.
        Assert.Equal(38 + 18 + 18, Targets.For(CoreSetup.Shared).Count);
        Assert.Equal(37 + 17 + 17, Targets.For(CoreSetup.Dedicated).Count);
    }

    [Fact]
    public void AnUnmeasuredRowIsNeitherPassedNorFailedAndKeepsTheRunFromHolding()
    {
        Results run = Run(ScenarioCatalog.Plaintext64, (SocketsDefault, 100, 10.0, double.NaN), (SocketsTuned, 100, 10.0, double.NaN),
            (EpollSafeInline, 150, 7.0, double.NaN), (ThreadPool, 150, 7.0, double.NaN));
        TargetReport report = TargetCheck.Evaluate(run);

        Assert.Null(Row(run, ScenarioCatalog.Plaintext64, TargetMetric.P99).Pass);
        Assert.All(report.Setups.Single().Outcomes.Where(o => o.Target.Metric != TargetMetric.P99), o => Assert.True(o.Pass));
        Assert.False(report.AllHold);
        Assert.Equal("4 of 4 targets hold (2 of 2 against Sockets default, 1 of 1 against Sockets tuned, 1 of 1 against Epoll default); 1 not measured", report.Setups.Single().Summary);
    }

    [Theory]
    [InlineData(ScenarioCatalog.Plaintext64, 109, false)]    // plaintext needs ≥ 1.10× Sockets tuned
    [InlineData(ScenarioCatalog.Plaintext64, 110, true)]
    [InlineData(ScenarioCatalog.Plaintext256, 110, true)]
    [InlineData(ScenarioCatalog.EchoPingPong, 109, false)]   // so does echo 64 B
    [InlineData(ScenarioCatalog.EchoInFlight, 100, false)]   // elsewhere "ahead of it" means strictly better
    [InlineData(ScenarioCatalog.EchoInFlight, 101, true)]
    [InlineData(ScenarioCatalog.H2c, 100, false)]
    public void EpollDefaultMustBeatSocketsTuned(string scenario, double epollDefault, bool expected)
    {
        Results run = Run(scenario, (SocketsDefault, 80), (SocketsTuned, 100), (Judged, epollDefault));

        TargetOutcome outcome = Assert.Single(TargetCheck.Evaluate(run).Setups.Single().AgainstSocketsTuned);
        Assert.Equal(expected, outcome.Pass);
    }

    [Fact]
    public void ForMemoryBeingAheadOfSocketsTunedMeansLess()
    {
        Results run = Run(ScenarioCatalog.Idle, (SocketsDefault, 9.1), (SocketsTuned, 9.1), (Judged, 8.1));

        TargetOutcome outcome = Assert.Single(TargetCheck.Evaluate(run).Setups.Single().AgainstSocketsTuned);
        Assert.True(outcome.Pass);
        Assert.Equal("< 1.00×", outcome.Goal);
    }

    [Theory]
    [InlineData(ScenarioCatalog.Json, 100, 95, true)]      // throughput ≥ 0.95× of Epoll default
    [InlineData(ScenarioCatalog.Json, 100, 94, false)]
    [InlineData(ScenarioCatalog.EchoInFlight, 400, 380, true)]
    [InlineData(ScenarioCatalog.Idle, 8.0, 8.4, true)]    // memory ≤ 1 / 0.95 (1.053×)
    [InlineData(ScenarioCatalog.Idle, 8.0, 8.5, false)]
    public void SafeInlineMayReplaceTheDefaultOnlyWhereItIsNoWorseThan095OfIt(string scenario, double threadPool, double epollSafeInline, bool expected)
    {
        Results run = Run(scenario, (SocketsDefault, threadPool), (ThreadPool, threadPool), (EpollSafeInline, epollSafeInline));

        TargetOutcome outcome = Assert.Single(TargetCheck.Evaluate(run).Setups.Single().AgainstThreadPool);
        Assert.Equal(expected, outcome.Pass);
    }

    [Fact]
    public void WithoutSafeInlineInTheRunThereAreNoTargetsAgainstTheThreadPool()
    {
        Results run = Run(ScenarioCatalog.EchoStream, (SocketsDefault, 100), (SocketsTuned, 70), (Judged, 140));

        SetupTargets setup = TargetCheck.Evaluate(run).Setups.Single();
        Assert.Empty(setup.AgainstThreadPool);
        Assert.Single(setup.AgainstSocketsTuned);
        Assert.True(setup.AllHold);
    }

    [Fact]
    public void EachSetupIsJudgedOnItsOwnSamples()
    {
        Results run = Both(ScenarioCatalog.EchoStream,
            shared: [(SocketsDefault, 1000), (SocketsTuned, 700), (EpollSafeInline, 1250), (ThreadPool, 1300)],
            dedicated: [(SocketsDefault, 600), (SocketsTuned, 500), (EpollSafeInline, 600), (ThreadPool, 650)]);

        TargetReport report = TargetCheck.Evaluate(run);

        Assert.Equal([CoreSetup.Shared, CoreSetup.Dedicated], report.Setups.Select(s => s.Setup));
        Assert.True(report.For(CoreSetup.Shared)!.AllHold);
        SetupTargets dedicated = report.For(CoreSetup.Dedicated)!;
        Assert.Equal(650 / 600.0, dedicated.AgainstSocketsDefault.Single().Ratio, 9);
        Assert.False(dedicated.AgainstSocketsDefault.Single().Pass); // 1.08×, below 1.20×
        Assert.True(dedicated.AgainstSocketsTuned.Single().Pass);
        Assert.False(dedicated.AgainstThreadPool.Single().Pass);     // safe inline 0.92× of the default
        Assert.False(report.AllHold);
    }

    [Fact]
    public void ARunOfTwoSetupsGivesFiguresOnlyPerSetup()
    {
        Results run = Both(ScenarioCatalog.EchoStream, shared: [(SocketsDefault, 1000)], dedicated: [(SocketsDefault, 600)]);

        Assert.Throws<InvalidOperationException>(() => run.Median(SocketsDefault, ScenarioCatalog.EchoStream, TargetMetric.Value));
        Assert.Equal(1000, run.For(CoreSetup.Shared).Median(SocketsDefault, ScenarioCatalog.EchoStream, TargetMetric.Value));
        Assert.Equal(600, run.For(CoreSetup.Dedicated).Median(SocketsDefault, ScenarioCatalog.EchoStream, TargetMetric.Value));
    }

    [Fact]
    public void TheReportShowsEachTableOncePerSetupUnderItsHeading()
    {
        Results run = Both(ScenarioCatalog.EchoPingPong,
            shared: [(SocketsDefault, 100), (SocketsTuned, 110), (EpollSafeInline, 150), (ThreadPool, 170)],
            dedicated: [(SocketsDefault, 60), (SocketsTuned, 66), (EpollSafeInline, 71), (ThreadPool, 70)]);

        string markdown = Report.Markdown(run, TargetCheck.Evaluate(run));

        Assert.Equal(1, Count(markdown, "## Shared cores\n"));
        Assert.Equal(1, Count(markdown, "## Dedicated core (server on CPU 1, load on CPU 0)\n"));
        Assert.True(markdown.IndexOf("## Shared cores", StringComparison.Ordinal) < markdown.IndexOf("## Dedicated core", StringComparison.Ordinal));
        Assert.Equal(2, Count(markdown, "Throughput (higher is better)"));
        Assert.Equal(2, Count(markdown, $"{Judged} vs {SocketsTuned}, on each scenario's own figure"));
        Assert.Equal(2, Count(markdown, $"{EpollSafeInline} vs {ThreadPool}, on each scenario's own figure"));
        Assert.Contains("| echo 64 B ping-pong (64 conns) | ≥ 1.60× | 100 msg/s | 170 (1.70×) | pass | 1.55× |", markdown);
        Assert.Contains("| echo 64 B ping-pong (64 conns) | ≥ 1.60× | 60.0 msg/s | 70.0 (1.17×) | **FAIL** | 1.06× |", markdown);
        // No CPU or p99 figures in these samples: those rows are counted as not measured.
        Assert.Contains("- Shared cores: 2 of 3 targets hold (1 of 1 against Sockets default, 1 of 1 against Sockets tuned, 0 of 1 against Epoll default); 2 not measured.", markdown);
        Assert.Contains("- Dedicated core (server on CPU 1, load on CPU 0): 1 of 3 targets hold (0 of 1 against Sockets default, 0 of 1 against Sockets tuned, 1 of 1 against Epoll default); 2 not measured.", markdown);
        Assert.Contains("Not every target of the issue holds in this run.", markdown);
        Assert.DoesNotContain("floor", markdown);
    }

    [Fact]
    public void TheChartHasPanelsForBothSetups()
    {
        Results run = Both(ScenarioCatalog.Plaintext64,
            shared: [(SocketsDefault, 100, 10, 2), (Judged, 150, 7, 1.5)],
            dedicated: [(SocketsDefault, 60, 12, 3), (Judged, 80, 9, 2)]);

        string svg = SvgChart.Render(run, "test");

        Assert.Contains("Shared cores — Throughput", svg);
        Assert.Contains("Dedicated core (server on CPU 1, load on CPU 0) — Throughput", svg);
        Assert.Contains("Dedicated core (server on CPU 1, load on CPU 0) — p99 latency", svg);
        Assert.Contains("<title>plaintext 64: 1.33×</title>", svg); // the dedicated ratio, 80 / 60
        Assert.Equal(6, Count(svg, "<title>target 1.40×</title>") + Count(svg, "<title>target 0.80×</title>") + Count(svg, "<title>target 1.00×</title>"));
    }

    [Fact]
    public void ASavedRunReadsBackToTheSameSetupsAndVerdicts()
    {
        Results run = Both(ScenarioCatalog.Plaintext64,
            shared: [(SocketsDefault, 100, 10, 2), (SocketsTuned, 120, 8, 6), (EpollSafeInline, 120, 9, 1.9), (ThreadPool, 145, 7.5, 1.8)],
            dedicated: [(SocketsDefault, 60, 12, 3), (SocketsTuned, 66, 10, 5), (EpollSafeInline, 84, 11, 2.8), (ThreadPool, 80, 9.9, 2.5)]);
        TargetReport report = TargetCheck.Evaluate(run);
        string path = Path.Combine(Path.GetTempPath(), $"perf-results-{Guid.NewGuid():N}.json");
        try
        {
            File.WriteAllText(path, ResultFiles.Json(run, report, "test"));

            Results loaded = ResultsReader.Load(path);

            Assert.False(loaded.PredatesSafeInline);
            Assert.Equal(run.StartedUtc, loaded.StartedUtc);
            Assert.Equal(run.Samples, loaded.Samples);
            Assert.Equal([CoreSetup.Shared, CoreSetup.Dedicated], loaded.Setups);
            Assert.Equal(2, loaded.Processors);
            Assert.Equal(Passes(report), Passes(TargetCheck.Evaluate(loaded)));
            // Shared: 1.45×, 0.75×, 0.90×, 1.21× tuned, safe inline 0.83× of the default; dedicated: 1.33×, 0.83×, 0.83×, 1.21×, 1.05×.
            Assert.Equal([true, true, true, true, false, false, false, true, true, true], Passes(report));
        }
        finally
        {
            File.Delete(path);
        }

        static bool?[] Passes(TargetReport r) => r.Setups.SelectMany(s => s.Outcomes).Select(o => o.Pass).ToArray();
    }

    [Fact]
    public void ARunFromBeforeSafeInlineIsShownWithTodaysNamesAndNotJudged()
    {
        // What runs wrote until 2026-12-02: no setups, and "Epoll default" meant thread-pool dispatch.
        const string Legacy = """
            {
              "stamp": "20261202-032628", "startedUtc": "2026-12-02T03:26:28Z", "rounds": 1, "seconds": 5,
              "configurations": [
                { "name": "Sockets default", "arguments": ["--transport", "sockets"], "environment": [] },
                { "name": "Epoll default", "arguments": ["--transport", "epoll"], "environment": [] },
                { "name": "Epoll inline", "arguments": ["--transport", "epoll", "--inline", "true"], "environment": [] }
              ],
              "scenarios": [ { "name": "plaintext 64" } ],
              "samples": [
                { "configuration": "Sockets default", "scenario": "plaintext 64", "round": 1, "value": 90000, "p99Milliseconds": 2.3, "cpuMilliseconds": 12.0 },
                { "configuration": "Epoll default", "scenario": "plaintext 64", "round": 1, "value": 100000, "p99Milliseconds": 2.1, "cpuMilliseconds": 10.6 },
                { "configuration": "Epoll inline", "scenario": "plaintext 64", "round": 1, "value": 120000, "p99Milliseconds": 6.3, "cpuMilliseconds": 8.3 }
              ]
            }
            """;
        string path = Path.Combine(Path.GetTempPath(), $"perf-legacy-{Guid.NewGuid():N}.json");
        try
        {
            File.WriteAllText(path, Legacy);

            Results loaded = ResultsReader.Load(path);
            string markdown = RunHistoryReport.Render([loaded]);
            string history = RunHistoryReport.Render([loaded, loaded]);

            Assert.True(loaded.PredatesSafeInline);
            Assert.Equal([SocketsDefault, ThreadPool, ServerConfiguration.EpollUnsafeInline], loaded.Configurations.Select(c => c.Name));
            Assert.Equal([SocketsDefault, ThreadPool, ServerConfiguration.EpollUnsafeInline], loaded.Samples.Select(s => s.Configuration));
            Assert.True(TargetCheck.Evaluate(loaded).IsEmpty);
            Assert.Contains("predates safe inline scheduling and is not judged by the current targets", markdown);
            Assert.Contains("| plaintext 64 | req/s | 90,000 (1.00×) | 100,000 (1.11×) | 120,000 (1.33×) |", markdown);
            Assert.Contains("| 20261202-032628 | 1 × 5 | not judged: before safe inline | — | — |", history);
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
    public void SeveralRunsAreTalliedPerSetupAndTarget()
    {
        Results held = Both(ScenarioCatalog.EchoStream,
            shared: [(SocketsDefault, 1000), (Judged, 1300)], dedicated: [(SocketsDefault, 500), (Judged, 650)]);
        Results missed = Both(ScenarioCatalog.EchoStream,
            shared: [(SocketsDefault, 1000), (Judged, 950)], dedicated: [(SocketsDefault, 500), (Judged, 550)]);

        string text = RunHistoryReport.Render([held, missed]);

        Assert.Contains("| 20261201-120000 | 1 × 5 | 1 of 1 | 1 of 1 | yes |", text);
        Assert.Contains("| 20261201-120000 | 1 × 5 | 0 of 1 | 0 of 1 | no |", text);
        Assert.Contains("## Shared cores", text);
        Assert.Contains("## Dedicated core (server on CPU 1, load on CPU 0)", text);
        Assert.Contains("| echo 64 KiB streaming (16 conns) | Sockets default | ≥ 1.20× | 1 of 2 | 0.95× / 1.12× / 1.30× |", text);
        Assert.Contains("| echo 64 KiB streaming (16 conns) | Sockets default | ≥ 1.20× | 1 of 2 | 1.10× / 1.20× / 1.30× |", text);
    }

    private static readonly DateTime s_started = new(2026, 12, 1, 12, 0, 0, DateTimeKind.Utc);

    /// <summary>One scenario, one shared-core sample per configuration: (configuration, value[, CPU ms, p99 ms]).</summary>
    private static Results Run(string scenario, params (string Configuration, double Value, double Cpu, double P99)[] samples)
        => Make(scenario, samples.Select(s => Sample(scenario, CoreSetup.Shared, s)).ToArray(), [CoreSetup.Shared]);

    private static Results Run(string scenario, params (string Configuration, double Value)[] samples)
        => Run(scenario, samples.Select(s => (s.Configuration, s.Value, double.NaN, double.NaN)).ToArray());

    /// <summary>One scenario in both setups, one sample per configuration in each.</summary>
    private static Results Both(string scenario, (string Configuration, double Value, double Cpu, double P99)[] shared, (string Configuration, double Value, double Cpu, double P99)[] dedicated)
        => Make(scenario,
            [.. shared.Select(s => Sample(scenario, CoreSetup.Shared, s)), .. dedicated.Select(s => Sample(scenario, CoreSetup.Dedicated, s))],
            [CoreSetup.Shared, CoreSetup.Dedicated]);

    private static Results Both(string scenario, (string Configuration, double Value)[] shared, (string Configuration, double Value)[] dedicated)
        => Both(scenario, shared.Select(s => (s.Configuration, s.Value, double.NaN, double.NaN)).ToArray(), dedicated.Select(s => (s.Configuration, s.Value, double.NaN, double.NaN)).ToArray());

    private static Sample Sample(string scenario, CoreSetup setup, (string Configuration, double Value, double Cpu, double P99) s)
        => new(s.Configuration, scenario, 1, s.Value, s.P99, s.Cpu, null, Setup: setup);

    private static Results Make(string scenario, Sample[] samples, CoreSetup[] setups)
        => new(
            ServerConfiguration.All.Where(c => samples.Any(s => s.Configuration == c.Name)).ToArray(),
            [ScenarioCatalog.All.Single(s => s.Name == scenario)],
            samples, rounds: 1, seconds: 5, "None", s_started, setups: setups, processors: 2);

    private static TargetOutcome Row(Results run, string scenario, TargetMetric metric)
        => TargetCheck.Evaluate(run).Setups.Single().AgainstSocketsDefault.Single(r => r.Target.Scenario == scenario && r.Target.Metric == metric);

    private static int Count(string text, string part)
    {
        int count = 0;
        for (int at = text.IndexOf(part, StringComparison.Ordinal); at >= 0; at = text.IndexOf(part, at + part.Length, StringComparison.Ordinal))
        {
            count++;
        }
        return count;
    }
}
