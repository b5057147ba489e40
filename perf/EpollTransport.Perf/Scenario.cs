namespace EpollTransport.Perf;

/// <summary>
/// One thing measured against a running DemoWeb. Its unit says what the value is and which way is
/// better; CPU (when the scenario has it) is server CPU milliseconds per <see cref="CpuPer"/> units of
/// work, always lower-is-better.
/// </summary>
internal abstract class Scenario(string name, string unit, bool higherIsBetter)
{
    public string Name { get; } = name;

    /// <summary>Unit of <see cref="Measurement.Value"/>: "req/s", "msg/s", "MiB/s", "KiB/conn".</summary>
    public string Unit { get; } = unit;

    public bool HigherIsBetter { get; } = higherIsBetter;

    /// <summary>Label of the CPU figure ("CPU ms / 1k req"), or null when the scenario has none.</summary>
    public virtual string? CpuUnit => null;

    public virtual bool HasP99 => false;

    /// <summary>Whether the median latency is measured too (the one-connection scenarios, where it is what a user waits).</summary>
    public virtual bool HasP50 => false;

    /// <summary>HTTP scenarios are what the `http` subcommand runs.</summary>
    public virtual bool IsHttp => false;

    /// <summary>
    /// DemoWeb switches beyond the configuration's (a transport read buffer, say), passed alike to every
    /// configuration's server. A scenario with any is measured on servers of that kind, started for it.
    /// </summary>
    public virtual IReadOnlyList<string> ServerArguments => [];

    /// <summary>A memory measurement wants a server no other scenario has loaded before it.</summary>
    public virtual bool NeedsOwnServer => false;

    /// <summary>
    /// Whether a slow host phase (<see cref="HostPhaseGuard"/>) distorts the figure, so the sample is
    /// worth measuring again. Speed and CPU are; memory is not, and measuring it again on the same
    /// server would reuse what the first attempt grew.
    /// </summary>
    public virtual bool SensitiveToHostPhase => !NeedsOwnServer;

    /// <summary>Whether the scenario runs in the dedicated-core setup too (<see cref="CoreSetup.Dedicated"/>); every setup runs it in the shared one.</summary>
    public virtual bool InDedicatedSetup => true;

    /// <summary>Whether the scenario runs in <paramref name="setup"/>.</summary>
    public bool RunsIn(CoreSetup setup) => setup == CoreSetup.Shared || InDedicatedSetup;

    /// <summary>
    /// About how long one sample takes with <paramref name="seconds"/> measured seconds, warm-up and
    /// overhead included, for the run's expected duration (not for any decision).
    /// </summary>
    public abstract double EstimatedSeconds(int seconds);

    /// <summary>Executables the scenario runs (checked, and installed where possible, before the first round).</summary>
    public abstract IReadOnlyList<string> Tools { get; }

    public abstract Task<Measurement> MeasureAsync(DemoServerProcess server, int seconds, CancellationToken cancellation);

    /// <summary>How long a measured run may take beyond its nominal length before it counts as hung.</summary>
    protected static TimeSpan Deadline(int seconds) => TimeSpan.FromSeconds(seconds + 60);
}

/// <summary>
/// One measured run: the value in the scenario's unit, p99 latency and server CPU per unit of work (NaN
/// when not measured), the seconds of warm-up load before it (0 when the scenario has none of its own),
/// and the median latency (NaN unless the scenario has it).
/// </summary>
internal sealed record Measurement(double Value, double P99Milliseconds, double CpuMilliseconds, int WarmupSeconds = 0, double P50Milliseconds = double.NaN);

/// <summary>
/// A scenario driven by an external load generator: warm-up (<see cref="Warmup"/>), then a measured run
/// with the server's CPU time read before and after.
/// </summary>
internal abstract class LoadScenario(string name, string unit) : Scenario(name, unit, higherIsBetter: true)
{
    /// <summary>Units of work the CPU figure is normalised to (1,000 requests, 1 GiB, ...).</summary>
    protected abstract double CpuPer { get; }

    /// <summary>
    /// The least warm-up, about a second more on average (the first scenario on each path in a round
    /// warms up for 5–6 s), and about a second for the probes and starting the tools. Against the five
    /// runs of 2026-12-02 (5 rounds × 5 s, 33–35 min each) this estimates 34 min.
    /// </summary>
    public override double EstimatedSeconds(int seconds) => Warmup.LeastSeconds + 1 + seconds + 1;

    public override async Task<Measurement> MeasureAsync(DemoServerProcess server, int seconds, CancellationToken cancellation)
    {
        int warmupSeconds = await WarmUpAsync(server, cancellation);
        server.EnsureRunning();
        double cpuBefore = server.CpuSeconds();
        LoadResult result = await RunLoadAsync(server, seconds, cancellation);
        double cpuAfter = server.CpuSeconds();
        double cpu = result.Work > 0 ? (cpuAfter - cpuBefore) * 1000 / result.Work * CpuPer : double.NaN;
        return new Measurement(result.Value, result.P99Milliseconds, cpu, warmupSeconds, result.P50Milliseconds);
    }

    /// <summary>Runs this scenario's load in slices until the server's JIT has settled; returns the seconds it took.</summary>
    private async Task<int> WarmUpAsync(DemoServerProcess server, CancellationToken cancellation)
    {
        double compilationSeconds = server.TieredCompilationCpuSeconds();
        for (int slices = 1; ; slices++)
        {
            server.EnsureRunning();
            await RunLoadAsync(server, Warmup.SliceSeconds, cancellation);
            double compilationSecondsNow = server.TieredCompilationCpuSeconds();
            double compilationMilliseconds = (compilationSecondsNow - compilationSeconds) * 1000;
            compilationSeconds = compilationSecondsNow;
            if (Warmup.IsDone(slices, compilationMilliseconds))
            {
                return slices * Warmup.SliceSeconds;
            }
        }
    }

    protected abstract Task<LoadResult> RunLoadAsync(DemoServerProcess server, int seconds, CancellationToken cancellation);

    /// <param name="Value">In the scenario's unit.</param>
    /// <param name="P99Milliseconds">NaN when the tool does not report it.</param>
    /// <param name="Work">Requests, messages or bytes done in the run, in the unit <see cref="CpuPer"/> counts.</param>
    /// <param name="P50Milliseconds">NaN unless the scenario measures it.</param>
    internal sealed record LoadResult(double Value, double P99Milliseconds, double Work, double P50Milliseconds = double.NaN);
}
