using System.Globalization;

namespace EpollTransport.Perf;

/// <summary>
/// Tells samples taken while the host had our two vCPUs far apart from the others. On this kind of
/// shared VM the cross-core round trip (core_probe) sits near 90 ns most of the time and jumps to about
/// 400 ns for seconds to minutes at a time; configurations that hand each request between threads (both
/// "default" ones, and h2c under every configuration) then need up to twice the CPU per request, the
/// inline ones barely change. Measured side by side, such a phase decides a same-run ratio by whichever
/// configuration it happened to hit, so a sample with a slow probe just before or after it is taken
/// again, for every configuration alike.
/// </summary>
internal sealed class HostPhaseGuard
{
    /// <summary>A round trip this many times the fastest seen so far marks a slow phase (fast ones vary by about 1.5×).</summary>
    public const double SlowFactor = 2.5;

    private double _fastestNanoseconds = double.PositiveInfinity;

    /// <summary>The fastest round trip seen so far; infinity before the first probe.</summary>
    public double FastestNanoseconds => _fastestNanoseconds;

    /// <summary>Above this, a probe reports a slow phase.</summary>
    public double SlowThresholdNanoseconds => _fastestNanoseconds * SlowFactor;

    /// <summary>Records a probe; returns whether it shows a slow phase.</summary>
    public bool Observe(double roundTripNanoseconds)
    {
        if (!(roundTripNanoseconds > 0) || double.IsInfinity(roundTripNanoseconds))
        {
            throw new ArgumentOutOfRangeException(nameof(roundTripNanoseconds), roundTripNanoseconds, "A round trip must be a positive, finite number of nanoseconds.");
        }
        _fastestNanoseconds = Math.Min(_fastestNanoseconds, roundTripNanoseconds);
        return IsSlow(roundTripNanoseconds);
    }

    public bool IsSlow(double roundTripNanoseconds) => roundTripNanoseconds > SlowThresholdNanoseconds;

    /// <summary>Parses core_probe's output line (<c>round_trip_ns=91.3 cpus=0,1</c>).</summary>
    public static double ParseProbe(string output)
    {
        foreach (string token in output.Split([' ', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries))
        {
            if (token.StartsWith("round_trip_ns=", StringComparison.Ordinal)
                && double.TryParse(token["round_trip_ns=".Length..], NumberStyles.Float, CultureInfo.InvariantCulture, out double value))
            {
                return value;
            }
        }
        throw new InvalidOperationException($"core_probe printed no round trip: {output.Trim()}");
    }
}
