using System.Diagnostics;
using System.Globalization;

namespace EpollTransport.Perf;

/// <summary>
/// Where the server's CPU goes, per configuration and scenario: runs the scenario once to settle the
/// JIT, then again under <c>perf record</c>, and splits the samples (<see cref="CpuProfileSplit"/>). The
/// transport share bounds what any transport could still save in that scenario.
/// </summary>
internal static class ProfileRunner
{
    private const string PerfTool = "perf";

    /// <summary>Unless --configs says otherwise: the baseline and our default, the pair the targets compare.</summary>
    private static readonly string[] DefaultConfigurations = [ServerConfiguration.Baseline, ServerConfiguration.EpollSafeInline];

    // perf names JIT-compiled frames from the runtime's perf map; with W^X on, code is mapped twice and
    // the frames do not resolve.
    private static readonly (string Name, string Value)[] PerfMapEnvironment = [("DOTNET_PerfMapEnabled", "1"), ("DOTNET_EnableWriteXorExecute", "0")];

    public static async Task<int> RunAsync(SuiteOptions options, IReadOnlyList<Scenario> candidates, CancellationToken cancellation)
    {
        LoadScenario[] scenarios = options.SelectScenarios(candidates).OfType<LoadScenario>().ToArray();
        ServerConfiguration[] configurations = options.Configs.Length > 0
            ? options.SelectConfigurations().ToArray()
            : ServerConfiguration.All.Where(c => DefaultConfigurations.Contains(c.Name)).ToArray();
        if (scenarios.Length == 0 || configurations.Length == 0)
        {
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Nothing to profile: {scenarios.Length} load scenario(s) match --only '{string.Join(',', options.Only)}', {configurations.Length} configuration(s) match --configs '{string.Join(',', options.Configs)}'."));
            Console.Error.WriteLine("Scenarios: " + string.Join(", ", candidates.OfType<LoadScenario>().Select(s => s.Name)));
            return 2;
        }
        string demoWeb = Path.GetFullPath(SuiteRunner.DemoWebDll);
        if (!File.Exists(demoWeb))
        {
            Console.Error.WriteLine($"Build DemoWeb first: {demoWeb} is missing (dotnet build -c Release src/DemoWeb).");
            return 2;
        }
        await ToolInstaller.EnsureAsync(PerfTool, cancellation);

        CoreSetup[] setups = options.Setups.Where(s => s == CoreSetup.Shared || CorePlacement.CanDedicate(Environment.ProcessorCount)).ToArray();
        if (setups.Length > 0)
        {
            await SuiteRunner.PrepareToolsAsync(scenarios, cancellation, pinning: setups.Contains(CoreSetup.Dedicated));
        }
        Console.WriteLine(Report.TableHeader("setup", "scenario", "configuration", "under perf", "transport", "thread pool", "GC", "JIT", "Kestrel+app", "samples"));
        int failures = 0;
        foreach (CoreSetup setup in setups)
        {
            var placement = new CorePlacement(setup, Environment.ProcessorCount);
            foreach (LoadScenario scenario in scenarios)
            {
                foreach (ServerConfiguration configuration in configurations)
                {
                    try
                    {
                        Console.WriteLine(await ProfileAsync(demoWeb, configuration, scenario, placement, options, cancellation));
                    }
                    catch (Exception e) when (e is not OperationCanceledException || !cancellation.IsCancellationRequested)
                    {
                        failures++;
                        Console.Error.WriteLine($"{CorePlacement.Name(setup)}, {scenario.Name}, {configuration.Name}: FAILED: {e.Message}");
                    }
                }
            }
        }
        return failures == 0 ? 0 : 1;
    }

    private static async Task<string> ProfileAsync(string demoWeb, ServerConfiguration configuration, LoadScenario scenario, CorePlacement placement, SuiteOptions options, CancellationToken cancellation)
    {
        ServerConfiguration mapped = configuration with { Environment = [.. configuration.Environment, .. PerfMapEnvironment] };
        await using DemoServerProcess server = await DemoServerProcess.StartAsync(demoWeb, mapped, options.AppLogLevel, placement, cancellation, scenario.ServerArguments);
        Console.Error.WriteLine($"{CorePlacement.Name(placement.Setup)}, {scenario.Name}, {configuration.Name}: settling, then recording ...");
        await scenario.MeasureAsync(server, options.Seconds, cancellation);

        string data = Path.Combine(Path.GetTempPath(), $"epolltransport-profile-{Environment.ProcessId}.data");
        Measurement measurement;
        string script;
        try
        {
            using (Process recorder = StartPrivileged([PerfTool, "record", "-F", "999", "-g", "-p", server.ProcessId.ToString(CultureInfo.InvariantCulture), "-o", data]))
            {
                try
                {
                    measurement = await scenario.MeasureAsync(server, options.Seconds, cancellation);
                }
                finally
                {
                    // perf record writes its file and exits on SIGINT (sudo passes the signal on).
                    await Processes.RunAsync("kill", ["-INT", recorder.Id.ToString(CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(10), CancellationToken.None);
                    await recorder.WaitForExitAsync(cancellation).WaitAsync(TimeSpan.FromSeconds(60), cancellation);
                }
            }
            // --force: under sudo the runtime's perf map belongs to the user, not root, and perf would skip it.
            script = await RunPrivilegedAsync([PerfTool, "script", "--force", "-F", "comm,tid,ip,sym", "-i", data], cancellation);
        }
        finally
        {
            await RunPrivilegedAsync(["rm", "-f", data], CancellationToken.None);
        }
        CpuProfileSplit split = CpuProfileSplit.Parse(script);
        if (split.Samples == 0)
        {
            throw new InvalidOperationException("perf recorded no samples of DemoWeb.");
        }
        string Share(int part) => string.Create(CultureInfo.InvariantCulture, $"{100.0 * part / split.Samples:F1}%");
        return string.Create(CultureInfo.InvariantCulture,
            $"| {CorePlacement.Name(placement.Setup)} | {scenario.Name} | {configuration.Name} | {Report.Number(measurement.Value, scenario.Unit)} {scenario.Unit} | {Share(split.Transport)} | {Share(split.ThreadPool)} | {Share(split.Gc)} | {Share(split.Jit)} | {Share(split.KestrelAndApp)} | {split.Samples} |");
    }

    // perf needs root to attach to another process; anyone else goes through sudo, as apt-get does.
    private static Process StartPrivileged(string[] command)
    {
        string[] full = Processes.AsRoot(command);
        Process process = Processes.StartOrExplain(Processes.RedirectedStart(full[0], full[1..]));
        // Drained so perf never blocks on a full pipe.
        _ = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        _ = process.StandardError.ReadToEndAsync(CancellationToken.None);
        return process;
    }

    private static Task<string> RunPrivilegedAsync(string[] command, CancellationToken cancellation)
    {
        string[] full = Processes.AsRoot(command);
        return Processes.RunAsync(full[0], full[1..], TimeSpan.FromMinutes(5), cancellation);
    }
}
