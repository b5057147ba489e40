using Xunit;

namespace EpollTransport.Perf.Tests;

public sealed class SampleOrderTests
{
    [Fact]
    public void EachScenarioRunsOnEveryConfigurationBackToBack()
    {
        IReadOnlyList<PlannedSample> plan = SampleOrder.Plan(3, ServerConfiguration.All, ScenarioCatalog.All);

        Assert.Equal(3 * ServerConfiguration.All.Length * ScenarioCatalog.All.Length, plan.Count);
        foreach (PlannedSample[] block in plan.Chunk(ServerConfiguration.All.Length))
        {
            Assert.Single(block.Select(p => p.Scenario).Distinct());
            Assert.Single(block.Select(p => p.Round).Distinct());
            Assert.Equal(ServerConfiguration.All.Select(c => c.Name).Order(), block.Select(p => p.Configuration.Name).Order());
        }
    }

    [Fact]
    public void EveryPairIsTakenOncePerRoundWithScenariosInCatalogOrder()
    {
        IReadOnlyList<PlannedSample> plan = SampleOrder.Plan(2, ServerConfiguration.All, ScenarioCatalog.All);

        Assert.Equal(plan.Count, plan.Distinct().Count());
        Assert.Equal(
            ScenarioCatalog.All.Select(s => s.Name),
            plan.Where(p => p.Round == 1).Select(p => p.Scenario.Name).Distinct());
        Assert.True(plan.Select(p => p.Round).SequenceEqual(plan.Select(p => p.Round).Order()), "rounds must not interleave");
    }

    [Fact]
    public void TheFirstConfigurationTurnsWithTheRound()
    {
        IReadOnlyList<PlannedSample> plan = SampleOrder.Plan(5, ServerConfiguration.All, ScenarioCatalog.All);

        string[] firsts = plan.Chunk(ServerConfiguration.All.Length).Where((_, i) => i % ScenarioCatalog.All.Length == 0)
            .Select(block => block[0].Configuration.Name).ToArray();
        Assert.Equal(
            [ServerConfiguration.Baseline, ServerConfiguration.SocketsTuned, ServerConfiguration.EpollDefault, ServerConfiguration.EpollInline, ServerConfiguration.Baseline],
            firsts);
    }
}
