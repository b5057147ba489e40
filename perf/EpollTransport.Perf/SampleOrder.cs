namespace EpollTransport.Perf;

/// <summary>One sample to take: a scenario on a configuration in a core setup in a round.</summary>
internal readonly record struct PlannedSample(int Round, CoreSetup Setup, Scenario Scenario, ServerConfiguration Configuration);

/// <summary>
/// The order samples are taken in. Within a round, each scenario runs on every configuration back to
/// back (A B C D), so the samples a ratio compares are taken within a minute of each other: the VM's
/// host slows down for seconds to minutes at a time, and running one configuration through every
/// scenario before the next (as earlier versions did) put minutes between the samples of one ratio.
/// The configuration that goes first turns with the round (round 2: B C D A, ...), so none is always
/// the one right after another scenario's load. A configuration that cannot serve a scenario (the C
/// server beyond HTTP/1.1 plaintext) sits that scenario out. With both core setups, each round takes the shared one
/// and then the dedicated one, so each setup's rounds spread over the whole run, as the configurations'
/// samples do within a round, and drift hits both setups alike; ratios are only ever taken within one.
/// </summary>
internal static class SampleOrder
{
    /// <summary>Seconds to start a DemoWeb and see its ports, once per configuration, round, setup and server kind (<see cref="Scenario.ServerArguments"/>).</summary>
    private const double ServerStartSeconds = 1.5;

    public static IReadOnlyList<PlannedSample> Plan(int rounds, IReadOnlyList<ServerConfiguration> configurations, IReadOnlyList<Scenario> scenarios, IReadOnlyList<CoreSetup> setups)
    {
        var plan = new List<PlannedSample>(rounds * setups.Count * configurations.Count * scenarios.Count);
        for (int round = 1; round <= rounds; round++)
        {
            foreach (CoreSetup setup in setups)
            {
                foreach (Scenario scenario in scenarios.Where(s => s.RunsIn(setup)))
                {
                    ServerConfiguration[] serving = configurations.Where(c => c.Serves(scenario)).ToArray();
                    int first = serving.Length == 0 ? 0 : (round - 1) % serving.Length;
                    for (int i = 0; i < serving.Length; i++)
                    {
                        plan.Add(new PlannedSample(round, setup, scenario, serving[(first + i) % serving.Length]));
                    }
                }
            }
        }
        return plan;
    }

    /// <summary>About how long <paramref name="plan"/> takes with <paramref name="seconds"/> per measured run, before any sample is retaken.</summary>
    public static TimeSpan EstimatedDuration(IReadOnlyList<PlannedSample> plan, int seconds)
    {
        double servers = plan.Select(p => (p.Round, p.Setup, p.Configuration.Name, string.Join(' ', p.Scenario.ServerArguments))).Distinct().Count() * ServerStartSeconds;
        return TimeSpan.FromSeconds(servers + plan.Sum(p => p.Scenario.EstimatedSeconds(seconds)));
    }
}
