namespace EpollTransport.Perf;

/// <summary>One sample to take: a scenario on a configuration in a round.</summary>
internal readonly record struct PlannedSample(int Round, Scenario Scenario, ServerConfiguration Configuration);

/// <summary>
/// The order samples are taken in. Within a round, each scenario runs on every configuration back to
/// back (A B C D), so the samples a ratio compares are taken within a minute of each other: the VM's
/// host slows down for seconds to minutes at a time, and running one configuration through every
/// scenario before the next (as earlier versions did) put minutes between the samples of one ratio.
/// The configuration that goes first turns with the round (round 2: B C D A, ...), so none is always
/// the one right after another scenario's load.
/// </summary>
internal static class SampleOrder
{
    public static IReadOnlyList<PlannedSample> Plan(int rounds, IReadOnlyList<ServerConfiguration> configurations, IReadOnlyList<Scenario> scenarios)
    {
        var plan = new List<PlannedSample>(rounds * configurations.Count * scenarios.Count);
        for (int round = 1; round <= rounds; round++)
        {
            int first = (round - 1) % configurations.Count;
            foreach (Scenario scenario in scenarios)
            {
                for (int i = 0; i < configurations.Count; i++)
                {
                    plan.Add(new PlannedSample(round, scenario, configurations[(first + i) % configurations.Count]));
                }
            }
        }
        return plan;
    }
}
