using System.Globalization;

namespace EpollTransport.Perf;

/// <summary>
/// perf/echo-load/echo_load, our C load client for the echo port and the idle-connection count. Built
/// on demand: when the binary is missing or older than its source.
/// </summary>
internal static class EchoClient
{
    public const string Source = "perf/echo-load/echo_load.c";
    public const string Binary = "perf/echo-load/bin/echo_load";

    public static string Path => System.IO.Path.GetFullPath(Binary);

    public static Task EnsureBuiltAsync(CancellationToken cancellation) => NativeTool.EnsureBuiltAsync(Source, Binary, cancellation);

    /// <summary>Parses the client's key=value summary line.</summary>
    public static Dictionary<string, double> ParseSummary(string output, string firstKey)
    {
        string? line = output.Split('\n').LastOrDefault(l => l.StartsWith(firstKey + "=", StringComparison.Ordinal));
        if (line is null)
        {
            throw new InvalidOperationException($"echo_load printed no summary: {output.Trim()}");
        }
        var values = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (string pair in line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            int equals = pair.IndexOf('=', StringComparison.Ordinal);
            if (equals > 0 && double.TryParse(pair[(equals + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out double value))
            {
                values[pair[..equals]] = value;
            }
        }
        return values;
    }
}
