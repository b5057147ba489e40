using System.Globalization;

namespace EpollTransport.Perf;

/// <summary>
/// perf/echo-load/echo_load, our C load client for the echo port, the idle-connection count, the
/// pipelined p99 and uploads. Built on demand: when the binary is missing or older than its source.
/// </summary>
internal static class EchoClient
{
    public const string Source = "perf/echo-load/echo_load.c";
    public const string Binary = "perf/echo-load/bin/echo_load";

    public static string Path => System.IO.Path.GetFullPath(Binary);

    public static Task EnsureBuiltAsync(CancellationToken cancellation) => NativeTool.EnsureBuiltAsync(Source, Binary, cancellation);

    /// <summary>
    /// Runs one load mode (pingpong, inflight, stream, pipeline, upload) against 127.0.0.1:<paramref name="port"/>
    /// and returns its summary; a failed run (byte mismatch, bad response, timeout) throws with its reason.
    /// <paramref name="depth"/> is for pipeline mode (requests per write), <paramref name="size"/> for the
    /// others (bytes per message or upload); <paramref name="binary"/> overrides the built client;
    /// <paramref name="placement"/> pins it to the load CPUs of the dedicated setup (unpinned without one).
    /// </summary>
    public static async Task<Dictionary<string, double>> RunAsync(int port, string mode, int connections, int seconds, int threads,
        TimeSpan timeout, CancellationToken cancellation, int? depth = null, string? binary = null, CorePlacement? placement = null, long? size = null)
    {
        string[] arguments = ["127.0.0.1", Text(port), mode, Text(connections), Text(seconds), Text(threads)];
        if (depth is int d)
        {
            // echo_load takes size before depth; pipeline mode has no size and ignores it.
            arguments = [.. arguments, Text(size ?? 0), Text(d)];
        }
        else if (size is long bytes)
        {
            arguments = [.. arguments, Text(bytes)];
        }
        (string fileName, string[] pinned) = (placement ?? CorePlacement.Unpinned).Load(binary ?? Path, arguments);
        string output = await Processes.RunAsync(fileName, pinned, timeout, cancellation);
        return ParseSummary(output, "mode");

        static string Text(long value) => value.ToString(CultureInfo.InvariantCulture);
    }

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
