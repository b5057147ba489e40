using System.Diagnostics;
using System.Globalization;

namespace EpollTransport.Perf;

/// <summary>
/// Runs the selected scenarios against every selected configuration in alternation, each scenario on
/// every configuration back to back (<see cref="SampleOrder"/>), so drift on the machine hits every
/// configuration alike, in each selected core setup (<see cref="CorePlacement"/>) in turn. Each
/// configuration runs as its own DemoWeb process, so /proc can attribute CPU and memory to it. A failed
/// sample is recorded (NaN, with its error) and the run carries on; a server that died is restarted.
/// </summary>
internal static class SuiteRunner
{
    public const string DemoWebDll = "src/DemoWeb/bin/Release/net10.0/DemoWeb.dll";

    /// <summary>Measurements of one sample at most, when slow host phases keep catching it.</summary>
    private const int MaxAttempts = 3;

    /// <summary>How long a sample waits for a slow host phase to pass before it is measured anyway.</summary>
    private static readonly TimeSpan SlowPhaseWait = TimeSpan.FromSeconds(30);

    public static async Task<int> RunAsync(SuiteOptions options, IReadOnlyList<Scenario> candidates, CancellationToken cancellation)
    {
        IReadOnlyList<Scenario> scenarios = options.SelectScenarios(candidates);
        IReadOnlyList<ServerConfiguration> configurations = options.SelectConfigurations();
        if (scenarios.Count == 0 || configurations.Count == 0)
        {
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Nothing to run: {scenarios.Count} scenario(s) match --only '{string.Join(',', options.Only)}', {configurations.Count} configuration(s) match --configs '{string.Join(',', options.Configs)}'."));
            Console.Error.WriteLine("Scenarios: " + string.Join(", ", candidates.Select(s => s.Name)));
            Console.Error.WriteLine("Configurations: " + string.Join(", ", ServerConfiguration.All.Select(c => c.Name)));
            return 2;
        }
        CoreSetup[] setups = options.Setups;
        if (setups.Contains(CoreSetup.Dedicated) && !CorePlacement.CanDedicate(Environment.ProcessorCount))
        {
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"warning: {Environment.ProcessorCount} CPU(s): the dedicated setup needs one for DemoWeb and one for the load; leaving it out."));
            setups = setups.Where(s => s != CoreSetup.Dedicated).ToArray();
            if (setups.Length == 0)
            {
                return 2;
            }
        }
        IReadOnlyList<PlannedSample> plan = SampleOrder.Plan(options.Rounds, configurations, scenarios, setups);
        if (plan.Count == 0)
        {
            Console.Error.WriteLine($"Nothing to run: {string.Join(", ", scenarios.Select(s => s.Name))} {(scenarios.Count == 1 ? "is" : "are")} not measured in the {string.Join(" or ", options.Setups.Select(CorePlacement.Name))} setup.");
            return 2;
        }
        string demoWeb = Path.GetFullPath(DemoWebDll);
        if (!File.Exists(demoWeb))
        {
            Console.Error.WriteLine($"Build DemoWeb first: {demoWeb} is missing (dotnet build -c Release src/DemoWeb).");
            return 2;
        }
        await PrepareToolsAsync(scenarios, cancellation, pinning: setups.Contains(CoreSetup.Dedicated));
        if (options.Busy > 0)
        {
            // No fallback: a run that says it had busy neighbours must have had them.
            await BusyNeighbours.EnsureBuiltAsync(cancellation);
        }
        HostPhaseGuard? guard = await StartHostCheckAsync(cancellation);

        DateTime started = DateTime.UtcNow;
        var clock = Stopwatch.StartNew();
        var samples = new List<Sample>();
        int total = plan.Count;
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{options.Rounds} round(s) × {string.Join(" + ", setups.Select(CorePlacement.Name))} setup × {configurations.Count} configuration(s) × {scenarios.Count} scenario(s): {total} samples, {options.Seconds} s each after a warm-up of {Warmup.LeastSeconds}–{Warmup.MostSeconds} s (until the server's JIT has settled)."));
        foreach (CoreSetup setup in setups.Where(s => s == CoreSetup.Dedicated))
        {
            var placement = new CorePlacement(setup, Environment.ProcessorCount);
            Console.Error.WriteLine($"{placement.Heading}: taskset -c {placement.ServerCpus} for DemoWeb, taskset -c {placement.LoadCpus} for the load generators{(scenarios.Any(s => !s.RunsIn(setup)) ? $"; {string.Join(", ", scenarios.Where(s => !s.RunsIn(setup)).Select(s => s.Name))} not measured there" : string.Empty)}.");
        }
        if (options.Busy > 0)
        {
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Busy neighbours: {options.Busy} spinning process(es) ({BusyNeighbours.Binary}) from before each warm-up to the end of each measured run; {string.Join("; ", setups.Select(s => BusyPlacement(new CorePlacement(s, Environment.ProcessorCount))))}."));
        }
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Expected duration: about {Math.Ceiling(SampleOrder.EstimatedDuration(plan, options.Seconds).TotalMinutes):F0} min (more when slow host phases have samples measured again)."));
        // One DemoWeb per configuration stays up for a round of a setup (idle while the others are
        // measured), so its warm state carries from scenario to scenario as before; each round and
        // setup starts fresh ones. A scenario with server arguments of its own gets servers of its own
        // kind, which live while its samples are taken (ServerFor).
        var servers = new Dictionary<string, DemoServerProcess>(StringComparer.Ordinal);
        try
        {
            (int Round, CoreSetup Setup) block = (0, CoreSetup.Shared);
            foreach (PlannedSample planned in plan)
            {
                if ((planned.Round, planned.Setup) != block)
                {
                    await StopAllAsync(servers);
                    block = (planned.Round, planned.Setup);
                }
                Sample sample = await TakeAsync(planned, servers, samples, demoWeb, options, guard, cancellation);
                samples.Add(sample);
                Progress(samples.Count, total, clock.Elapsed, options.Rounds, planned.Scenario, sample);
            }
        }
        finally
        {
            await StopAllAsync(servers);
        }

        var results = new Results(configurations, scenarios, samples, options.Rounds, options.Seconds, options.AppLogLevel, started, guard?.FastestNanoseconds ?? double.NaN,
            setups, Environment.ProcessorCount, serverEnvironment: DemoServerProcess.RuntimeEnvironmentText, busyNeighbours: options.Busy);
        TargetReport targets = TargetCheck.Evaluate(results);
        string markdown = Report.Markdown(results, targets);
        Console.WriteLine();
        Console.WriteLine(markdown);
        string[] written = await ResultFiles.WriteAsync(results, targets, markdown, cancellation);
        string latest = results.IsComplete ? " (and latest.*)" : results.BusyNeighbours > 0 ? " (busy neighbours: latest.* left as it was)" : " (a subset: latest.* left as it was)";
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Wrote {string.Join(", ", written)}{latest} in {clock.Elapsed.TotalMinutes:F1} min."));
        return samples.All(s => s.Error is null) ? 0 : 1;
    }

    private static async Task<Sample> TakeAsync(PlannedSample planned, Dictionary<string, DemoServerProcess> servers, List<Sample> samples,
        string demoWeb, SuiteOptions options, HostPhaseGuard? guard, CancellationToken cancellation)
    {
        (int round, CoreSetup setup, Scenario scenario, ServerConfiguration configuration) = planned;
        var placement = new CorePlacement(setup, Environment.ProcessorCount);
        if (scenario.NeedsOwnServer)
        {
            DemoServerProcess? own = null;
            try
            {
                own = await DemoServerProcess.StartAsync(configuration.DemoWebDll ?? demoWeb, configuration, options.AppLogLevel, placement, cancellation, scenario.ServerArguments);
                return await MeasureAsync(own, configuration, scenario, round, options, guard, cancellation);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellation.IsCancellationRequested)
            {
                return Failed(configuration, scenario, round, setup, e);
            }
            finally
            {
                if (own is not null)
                {
                    await own.DisposeAsync();
                }
            }
        }

        try
        {
            // Servers of another scenario's own kind are done: its samples were taken back to back.
            foreach ((string key, DemoServerProcess done) in servers.Where(s => s.Value.ExtraArguments.Count > 0 && !s.Value.ExtraArguments.SequenceEqual(scenario.ServerArguments)).ToArray())
            {
                servers.Remove(key);
                await done.DisposeAsync();
            }
            string serverKey = ServerKey(configuration, scenario);
            servers.TryGetValue(serverKey, out DemoServerProcess? shared);
            Sample? previous = samples.LastOrDefault(s => s.Configuration == configuration.Name && s.Round == round && s.Setup == setup);
            if (shared is null || (previous?.Error is not null && await shared.HasExitedAsync(TimeSpan.FromSeconds(2))) || !IsAlive(shared))
            {
                if (shared is not null)
                {
                    Console.Error.WriteLine($"  DemoWeb ({configuration.Name}) died; starting a new one.");
                    servers.Remove(serverKey);
                    await shared.DisposeAsync();
                }
                shared = await DemoServerProcess.StartAsync(configuration.DemoWebDll ?? demoWeb, configuration, options.AppLogLevel, placement, cancellation, scenario.ServerArguments);
                servers[serverKey] = shared;
            }
            return await MeasureAsync(shared, configuration, scenario, round, options, guard, cancellation);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellation.IsCancellationRequested)
        {
            return Failed(configuration, scenario, round, setup, e);
        }
    }

    /// <summary>One server per configuration and kind: the configuration's name, then the scenario's own switches.</summary>
    private static string ServerKey(ServerConfiguration configuration, Scenario scenario) =>
        string.Join('\0', [configuration.Name, .. scenario.ServerArguments]);

    /// <summary>Where the busy neighbours of <paramref name="placement"/> run, for the progress output and the report.</summary>
    public static string BusyPlacement(CorePlacement placement) => placement.ServerCpus is null
        ? $"{CorePlacement.Name(placement.Setup)} setup: unpinned"
        : $"{CorePlacement.Name(placement.Setup)} setup: on CPU {placement.ServerCpus}, beside DemoWeb";

    private static async Task StopAllAsync(Dictionary<string, DemoServerProcess> servers)
    {
        foreach (DemoServerProcess server in servers.Values)
        {
            await server.DisposeAsync();
        }
        servers.Clear();
    }

    private static bool IsAlive(DemoServerProcess server)
    {
        try
        {
            server.EnsureRunning();
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private static async Task<Sample> MeasureAsync(DemoServerProcess server, ServerConfiguration configuration, Scenario scenario, int round, SuiteOptions options, HostPhaseGuard? guard, CancellationToken cancellation)
    {
        int seconds = options.Seconds;
        // The busy neighbours run from before the warm-up to the end of the measured run, and not during
        // the host-phase probes around it, which would otherwise measure them.
        async Task<Measurement> MeasureWithNeighboursAsync()
        {
            using BusyNeighbours neighbours = await BusyNeighbours.StartAsync(options.Busy, server.Placement, cancellation);
            return await scenario.MeasureAsync(server, seconds, cancellation);
        }

        // Handoffs over the sample, warm-up included: a benchmark's handlers never block, so any handoff
        // here is a busy thread taken for a stuck one, and worth seeing next to the figure.
        long handoffsBefore = await server.HandoffsAsync(cancellation);
        async Task<long> HandoffsSinceAsync() =>
            handoffsBefore < 0 ? -1 : Math.Max(-1, await server.HandoffsAsync(cancellation) - handoffsBefore);
        if (guard is null || !scenario.SensitiveToHostPhase)
        {
            Measurement once = await MeasureWithNeighboursAsync();
            server.EnsureRunning();
            return new Sample(configuration.Name, scenario.Name, round, once.Value, once.P99Milliseconds, once.CpuMilliseconds, null, WarmupSeconds: once.WarmupSeconds, Setup: server.Placement.Setup,
                Handoffs: await HandoffsSinceAsync(), P50Milliseconds: once.P50Milliseconds);
        }
        for (int attempt = 1; ; attempt++)
        {
            double before = await WaitForFastPhaseAsync(guard, cancellation);
            Measurement m = await MeasureWithNeighboursAsync();
            server.EnsureRunning();
            double after = await CoreProbe.MeasureAsync(cancellation);
            bool slow = guard.Observe(after) | guard.IsSlow(before);
            if (!slow || attempt == MaxAttempts)
            {
                return new Sample(configuration.Name, scenario.Name, round, m.Value, m.P99Milliseconds, m.CpuMilliseconds, null, before, after, attempt, slow, m.WarmupSeconds, server.Placement.Setup,
                    await HandoffsSinceAsync(), m.P50Milliseconds);
            }
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  slow host phase around this sample (cross-core round trip {before:F0} ns before, {after:F0} ns after, fastest {guard.FastestNanoseconds:F0} ns): measuring again"));
        }
    }

    /// <summary>Probes until the host is out of a slow phase, or <see cref="SlowPhaseWait"/> has passed; returns the last probe.</summary>
    private static async Task<double> WaitForFastPhaseAsync(HostPhaseGuard guard, CancellationToken cancellation)
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            double probe = await CoreProbe.MeasureAsync(cancellation);
            if (!guard.Observe(probe) || waited.Elapsed >= SlowPhaseWait)
            {
                return probe;
            }
            await Task.Delay(TimeSpan.FromSeconds(1), cancellation);
        }
    }

    /// <summary>Builds core_probe and takes a first few probes; null (with a warning) where it cannot run, e.g. on one CPU.</summary>
    private static async Task<HostPhaseGuard?> StartHostCheckAsync(CancellationToken cancellation)
    {
        try
        {
            await CoreProbe.EnsureBuiltAsync(cancellation);
            var guard = new HostPhaseGuard();
            for (int i = 0; i < 5; i++)
            {
                guard.Observe(await CoreProbe.MeasureAsync(cancellation));
            }
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Host check: fastest cross-core round trip {guard.FastestNanoseconds:F0} ns; samples with a probe above {guard.SlowThresholdNanoseconds:F0} ns around them are measured again (up to {MaxAttempts} times)."));
            return guard;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Console.Error.WriteLine($"warning: no host check ({e.Message}); samples are taken once each.");
            return null;
        }
    }

    private static Sample Failed(ServerConfiguration configuration, Scenario scenario, int round, CoreSetup setup, Exception e) =>
        new(configuration.Name, scenario.Name, round, double.NaN, double.NaN, double.NaN, $"{e.GetType().Name}: {e.Message}", Setup: setup);

    /// <summary>Finds, installs or builds what the scenarios run, and taskset when anything is to be pinned.</summary>
    internal static async Task PrepareToolsAsync(IReadOnlyList<Scenario> scenarios, CancellationToken cancellation, bool pinning = false)
    {
        foreach (string tool in scenarios.SelectMany(s => s.Tools).Concat(pinning ? [CorePlacement.PinningTool] : []).Distinct())
        {
            try
            {
                if (tool == EchoClient.Binary)
                {
                    await EchoClient.EnsureBuiltAsync(cancellation);
                }
                else
                {
                    await ToolInstaller.EnsureAsync(tool, cancellation);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Carry on: the scenarios that need it fail with this reason, the others still run.
                Console.Error.WriteLine($"warning: {tool} is not available: {e.Message}");
            }
        }
    }

    private static void Progress(int done, int total, TimeSpan elapsed, int rounds, Scenario scenario, Sample sample)
    {
        Sample s = sample;
        TimeSpan left = TimeSpan.FromTicks(elapsed.Ticks / done * (total - done));
        string figures = s.Error is not null
            ? $"FAILED: {s.Error.ReplaceLineEndings(" ")}"
            : $"{Report.Number(s.Value, scenario.Unit),12} {scenario.Unit,-8}"
              + (scenario.HasP50 ? $"  p50 {Report.Number(s.P50Milliseconds, "ms"),7} ms" : string.Empty)
              + (scenario.HasP99 ? $"  p99 {Report.Number(s.P99Milliseconds, "ms"),7} ms" : string.Empty)
              + (scenario.CpuUnit is not null ? $"  {Report.Number(s.CpuMilliseconds, scenario.CpuUnit),7} {scenario.CpuUnit}" : string.Empty)
              + (s.WarmupSeconds > Warmup.LeastSeconds ? $"  (warm-up {s.WarmupSeconds} s)" : string.Empty)
              + (s.Handoffs > 0 ? $"  {s.Handoffs} handoff(s)" : string.Empty);
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"[{done,3}/{total}] round {s.Round}/{rounds} {CorePlacement.Name(s.Setup),-9}  {s.Configuration,-19}  {s.Scenario,-36} {figures}   ~{left.TotalMinutes:F0} min left"));
    }
}
