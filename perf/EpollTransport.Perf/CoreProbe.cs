namespace EpollTransport.Perf;

/// <summary>perf/core-probe/core_probe: the cross-core round trip, for <see cref="HostPhaseGuard"/>.</summary>
internal static class CoreProbe
{
    public const string Source = "perf/core-probe/core_probe.c";
    public const string Binary = "perf/core-probe/bin/core_probe";

    /// <summary>About 30 ms in a fast phase, 120 ms in a slow one.</summary>
    private const int RoundTrips = 300_000;

    public static Task EnsureBuiltAsync(CancellationToken cancellation) => NativeTool.EnsureBuiltAsync(Source, Binary, cancellation);

    public static async Task<double> MeasureAsync(CancellationToken cancellation)
    {
        string output = await Processes.RunAsync(Path.GetFullPath(Binary), [RoundTrips.ToString(System.Globalization.CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(30), cancellation);
        return HostPhaseGuard.ParseProbe(output);
    }
}
