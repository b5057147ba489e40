using Xunit;

namespace EpollTransport.Perf.Tests;

public sealed class SampleOrderTests
{
    private static readonly CoreSetup[] s_shared = [CoreSetup.Shared];
    private static readonly CoreSetup[] s_both = [CoreSetup.Shared, CoreSetup.Dedicated];
    private static readonly ServerConfiguration[] s_configurations = ServerConfiguration.DefaultSet;

    [Fact]
    public void EachScenarioRunsOnEveryConfigurationBackToBack()
    {
        IReadOnlyList<PlannedSample> plan = SampleOrder.Plan(3, s_configurations, ScenarioCatalog.All, s_both);

        Assert.Equal(3 * s_configurations.Length * (2 * ScenarioCatalog.All.Length - 1), plan.Count);
        foreach (PlannedSample[] block in plan.Chunk(s_configurations.Length))
        {
            Assert.Single(block.Select(p => (p.Scenario, p.Round, p.Setup)).Distinct());
            Assert.Equal(s_configurations.Select(c => c.Name).Order(), block.Select(p => p.Configuration.Name).Order());
        }
    }

    [Fact]
    public void EveryPairIsTakenOncePerRoundWithScenariosInCatalogOrder()
    {
        IReadOnlyList<PlannedSample> plan = SampleOrder.Plan(2, s_configurations, ScenarioCatalog.All, s_shared);

        Assert.Equal(plan.Count, plan.Distinct().Count());
        Assert.Equal(
            ScenarioCatalog.All.Select(s => s.Name),
            plan.Where(p => p.Round == 1).Select(p => p.Scenario.Name).Distinct());
        Assert.True(plan.Select(p => p.Round).SequenceEqual(plan.Select(p => p.Round).Order()), "rounds must not interleave");
    }

    [Fact]
    public void TheFirstConfigurationTurnsWithTheRoundInEachSetup()
    {
        IReadOnlyList<PlannedSample> plan = SampleOrder.Plan(5, s_configurations, ScenarioCatalog.All, s_both);

        foreach (CoreSetup setup in s_both)
        {
            string[] firsts = Enumerable.Range(1, 5)
                .Select(round => plan.First(p => p.Round == round && p.Setup == setup).Configuration.Name).ToArray();
            Assert.Equal(
                [ServerConfiguration.Baseline, ServerConfiguration.SocketsTuned, ServerConfiguration.EpollSafeInline, ServerConfiguration.EpollDefault, ServerConfiguration.Baseline],
                firsts);
        }
    }

    [Fact]
    public void EachRoundTakesTheSharedSetupThenTheDedicatedOne()
    {
        IReadOnlyList<PlannedSample> plan = SampleOrder.Plan(3, s_configurations, ScenarioCatalog.All, s_both);

        // Blocks of one round and setup, in run order: (1, shared), (1, dedicated), (2, shared), ...
        (int, CoreSetup)[] blocks = plan.Select(p => (p.Round, p.Setup)).Distinct().ToArray();
        Assert.Equal([(1, CoreSetup.Shared), (1, CoreSetup.Dedicated), (2, CoreSetup.Shared), (2, CoreSetup.Dedicated), (3, CoreSetup.Shared), (3, CoreSetup.Dedicated)], blocks);
        // ... and each block in one piece.
        int changes = plan.Zip(plan.Skip(1)).Count(pair => (pair.First.Round, pair.First.Setup) != (pair.Second.Round, pair.Second.Setup));
        Assert.Equal(blocks.Length - 1, changes);
    }

    [Fact]
    public void TheCServersRunOnlyTheHttp11PlaintextScenarios()
    {
        // --configs "default,C epoll": Sockets and Epoll default, and both C servers.
        IReadOnlyList<ServerConfiguration> configurations = SuiteOptions.Parse(["--configs", "default,C epoll"]).SelectConfigurations();
        IReadOnlyList<PlannedSample> plan = SampleOrder.Plan(2, configurations, ScenarioCatalog.All, s_both);

        Assert.Equal(
            [ServerConfiguration.Baseline, ServerConfiguration.EpollDefault, ServerConfiguration.CEpollServer, ServerConfiguration.CEpollServerSleeping],
            configurations.Select(c => c.Name));
        string[] plaintext = [ScenarioCatalog.Plaintext64, ScenarioCatalog.Plaintext256, ScenarioCatalog.Pipelined, ScenarioCatalog.OneConnectionPlaintext];
        foreach (var block in plan.GroupBy(p => (p.Round, p.Setup, p.Scenario.Name)))
        {
            string[] expected = plaintext.Contains(block.Key.Name)
                ? [.. configurations.Select(c => c.Name)]
                : [ServerConfiguration.Baseline, ServerConfiguration.EpollDefault];
            Assert.Equal(expected.Order(), block.Select(p => p.Configuration.Name).Order());
        }
        // The first configuration still turns with the round among the four that run a plaintext scenario.
        Assert.Equal(
            [ServerConfiguration.Baseline, ServerConfiguration.EpollDefault],
            plan.Where(p => p.Setup == CoreSetup.Shared && p.Scenario.Name == ScenarioCatalog.OneConnectionPlaintext).GroupBy(p => p.Round).Select(g => g.First().Configuration.Name));
    }

    [Fact]
    public void TheDedicatedSetupLeavesIdleMemoryOut()
    {
        IReadOnlyList<PlannedSample> plan = SampleOrder.Plan(1, s_configurations, ScenarioCatalog.All, s_both);

        Assert.DoesNotContain(plan, p => p.Setup == CoreSetup.Dedicated && p.Scenario.Name == ScenarioCatalog.Idle);
        Assert.Contains(plan, p => p.Setup == CoreSetup.Shared && p.Scenario.Name == ScenarioCatalog.Idle);
        Assert.Empty(SampleOrder.Plan(1, s_configurations, [ScenarioCatalog.Find(ScenarioCatalog.Idle)!], [CoreSetup.Dedicated]));
    }

    [Fact]
    public void TheDefaultRunIsEstimatedAtAboutAnHourAndAQuarter()
    {
        // perf/run.sh 3 5: 3 rounds × 5 s, both setups, the four default configurations, every scenario
        // (issue 24's and 27's too): docs/performance.md quotes this figure.
        TimeSpan estimate = SampleOrder.EstimatedDuration(SampleOrder.Plan(3, s_configurations, ScenarioCatalog.All, s_both), 5);

        Assert.InRange(estimate.TotalMinutes, 70, 85);
    }

    [Fact]
    public void TheIssuesSubsetInBothSetupsIsEstimatedAtUnderAnHour()
    {
        // perf/run.sh 3 5 --only @issues-24-27: the documented way to take the issues' rows without the rest.
        IReadOnlyList<Scenario> subset = SuiteOptions.Parse(["--only", ScenarioCatalog.IssueGroup]).SelectScenarios(ScenarioCatalog.All);

        TimeSpan estimate = SampleOrder.EstimatedDuration(SampleOrder.Plan(3, s_configurations, subset, s_both), 5);

        Assert.InRange(estimate.TotalMinutes, 50, 60);
    }

    [Fact]
    public void AServerOfItsOwnKindCountsAsAStart()
    {
        Scenario[] uploads = [.. ScenarioCatalog.All.Where(s => s.Name.StartsWith("upload", StringComparison.Ordinal))];
        IReadOnlyList<PlannedSample> plan = SampleOrder.Plan(1, s_configurations, uploads, s_shared);

        // Three server kinds (64 B, 64 KiB, the default) per configuration, 1.5 s each, besides the samples.
        double samples = uploads.Sum(u => u.EstimatedSeconds(5)) * s_configurations.Length;
        Assert.Equal(samples + 3 * s_configurations.Length * 1.5, SampleOrder.EstimatedDuration(plan, 5).TotalSeconds, 6);
    }

    [Fact]
    public void TheEstimateMatchesTheRunsItWasCalibratedOn()
    {
        // The 5 × 5 runs of 2026-12-02 (shared cores, four configurations, the ten scenarios the suite had
        // then) took 33–35 minutes with their retakes.
        string[] then =
        [
            ScenarioCatalog.Plaintext64, ScenarioCatalog.Plaintext256, ScenarioCatalog.Pipelined, ScenarioCatalog.Json, ScenarioCatalog.Churn,
            ScenarioCatalog.H2c, ScenarioCatalog.EchoPingPong, ScenarioCatalog.EchoInFlight, ScenarioCatalog.EchoStream, ScenarioCatalog.Idle,
        ];
        Scenario[] scenarios = [.. ScenarioCatalog.All.Where(s => then.Contains(s.Name))];
        TimeSpan estimate = SampleOrder.EstimatedDuration(SampleOrder.Plan(5, s_configurations, scenarios, s_shared), 5);

        Assert.Equal(then.Length, scenarios.Length);
        Assert.InRange(estimate.TotalMinutes, 30, 36);
    }
}
