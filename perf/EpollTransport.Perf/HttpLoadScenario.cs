using System.Globalization;
using System.Text.RegularExpressions;

namespace EpollTransport.Perf;

internal enum HttpTool
{
    Wrk,
    H2load,
}

/// <summary>Which of DemoWeb's ports a scenario's load goes to.</summary>
internal enum HttpPort
{
    /// <summary>Plaintext HTTP/1.1.</summary>
    Http,

    /// <summary>HTTP/2 with prior knowledge.</summary>
    H2c,

    /// <summary>TLS: HTTP/2 when the client offers it over ALPN, HTTP/1.1 otherwise (wrk, h2load --h1).</summary>
    Https,
}

/// <summary>
/// An HTTP scenario driven by wrk (HTTP/1.1, plaintext or TLS) or h2load (h2c, or HTTP/2 and HTTP/1.1
/// over TLS), two client threads each unless told. The pipelined one takes its p99 from a second run with
/// echo_load's pipeline mode (same connections, same depth), because wrk cannot measure latency under a
/// pipelining script (see <see cref="ParseWrk"/>). With <paramref name="medianLatency"/> the scenario
/// reports p50 too, and h2load, which prints no percentiles, writes every request's time to a log
/// (<c>--log-file</c>) that the percentiles are taken from.
/// </summary>
internal sealed partial class HttpLoadScenario(string name, HttpTool tool, string path, string[] arguments, string[]? trailingArguments = null,
    HttpLoadScenario.PipelineShape? pipeline = null, HttpPort? port = null, int clientThreads = 2, bool medianLatency = false)
    : LoadScenario(name, "req/s")
{
    /// <summary>Connections and requests per write of a pipelined scenario.</summary>
    public sealed record PipelineShape(int Connections, int Depth);

    /// <summary>Plaintext with <paramref name="depth"/> requests per write on each of <paramref name="connections"/> connections.</summary>
    public static HttpLoadScenario Pipelined(string name, int connections, int depth)
    {
        string c = connections.ToString(CultureInfo.InvariantCulture);
        string d = depth.ToString(CultureInfo.InvariantCulture);
        return new HttpLoadScenario(name, HttpTool.Wrk, "/plaintext", ["-c", c, "-s", "perf/pipeline.lua"], ["--", d], new PipelineShape(connections, depth));
    }

    /// <summary>
    /// GET /plaintext, one request at a time on one keep-alive connection from one client thread: what an
    /// API client, a health check or a small proxy pool sees, where a transport's per-request hand-offs
    /// are the whole cost instead of being spread over a batch.
    /// </summary>
    public static HttpLoadScenario OneConnection(string name, HttpTool tool, HttpPort port, params string[] protocol) =>
        new(name, tool, "/plaintext", [.. protocol, "-c", "1", .. tool == HttpTool.H2load ? new[] { "-m", "1" } : []], port: port, clientThreads: 1, medianLatency: true);

    private HttpPort Port => port ?? (tool == HttpTool.H2load ? HttpPort.H2c : HttpPort.Http);

    public override string CpuUnit => "CPU ms / 1k req";

    // wrk prints percentiles; h2load only through its per-request log.
    public override bool HasP99 => tool == HttpTool.Wrk || medianLatency;

    public override bool HasP50 => medianLatency;

    public override bool IsHttp => true;

    /// <summary>
    /// Keep-alive HTTP/1.1 GET /plaintext without TLS, pipelined or not: all the C reference server
    /// (<see cref="ServerConfiguration.CEpollServer"/>) answers. Churn asks the server to close.
    /// </summary>
    public bool IsPlaintextHttp11 => tool == HttpTool.Wrk && path == "/plaintext" && Port == HttpPort.Http
        && !arguments.Contains("Connection: close", StringComparer.OrdinalIgnoreCase);

    public override IReadOnlyList<string> Tools => tool == HttpTool.H2load ? ["h2load"] : pipeline is null ? ["wrk"] : ["wrk", EchoClient.Binary];

    protected override double CpuPer => 1000;

    // The pipelined scenario runs echo_load for its p99 after wrk's measured run.
    public override double EstimatedSeconds(int seconds) => base.EstimatedSeconds(seconds) + (pipeline is null ? 0 : seconds);

    public override async Task<Measurement> MeasureAsync(DemoServerProcess server, int seconds, CancellationToken cancellation)
    {
        Measurement measurement = await base.MeasureAsync(server, seconds, cancellation);
        if (pipeline is null)
        {
            return measurement;
        }
        // Right after wrk's measured run, on the same warm server; the CPU figure stays wrk's alone.
        Dictionary<string, double> summary = await EchoClient.RunAsync(server.HttpPort, "pipeline", pipeline.Connections, seconds, clientThreads,
            Deadline(seconds), cancellation, depth: pipeline.Depth, placement: server.Placement);
        return measurement with { P99Milliseconds = summary["p99_us"] / 1000 };
    }

    protected override async Task<LoadResult> RunLoadAsync(DemoServerProcess server, int seconds, CancellationToken cancellation)
    {
        (string scheme, int number) = Port switch
        {
            HttpPort.H2c => ("http", server.H2cPort),
            HttpPort.Https => ("https", server.HttpsPort),
            _ => ("http", server.HttpPort),
        };
        string url = string.Create(CultureInfo.InvariantCulture, $"{scheme}://127.0.0.1:{number}{path}");
        string threads = clientThreads.ToString(CultureInfo.InvariantCulture);
        if (tool == HttpTool.Wrk)
        {
            string[] args = ["-t", threads, "-d", string.Create(CultureInfo.InvariantCulture, $"{seconds}s"), "--latency", .. arguments, url, .. trailingArguments ?? []];
            (string wrk, string[] wrkArguments) = server.Placement.Load("wrk", args);
            return ParseWrk(await Processes.RunAsync(wrk, wrkArguments, Deadline(seconds), cancellation));
        }
        string? log = medianLatency ? Path.Combine(Path.GetTempPath(), $"epolltransport-h2load-{Environment.ProcessId}-{Guid.NewGuid():N}.log") : null;
        try
        {
            string[] args = ["-t", threads, "-D", seconds.ToString(CultureInfo.InvariantCulture), .. log is null ? [] : new[] { $"--log-file={log}" }, .. arguments, url];
            (string h2load, string[] h2loadArguments) = server.Placement.Load("h2load", args);
            LoadResult result = ParseH2load(await Processes.RunAsync(h2load, h2loadArguments, Deadline(seconds), cancellation));
            if (log is null)
            {
                return result;
            }
            (double p50, double p99) = H2loadLogPercentiles(File.ReadLines(log));
            return result with { P50Milliseconds = p50, P99Milliseconds = p99 };
        }
        finally
        {
            if (log is not null)
            {
                File.Delete(log);
            }
        }
    }

    /// <summary>
    /// p50 and p99 in milliseconds (nearest rank) from h2load's <c>--log-file</c>: a line per request,
    /// tab-separated start time (µs since the epoch), status (-1 for a failed stream) and µs until the
    /// end of the response. Failed streams have no response time; the summary counts them.
    /// </summary>
    internal static (double P50Milliseconds, double P99Milliseconds) H2loadLogPercentiles(IEnumerable<string> lines)
    {
        var times = new List<double>();
        foreach (string line in lines)
        {
            string[] columns = line.Split('\t');
            if (columns.Length < 3 || columns[1].Trim() == "-1")
            {
                continue;
            }
            times.Add(double.Parse(columns[2], NumberStyles.Float, CultureInfo.InvariantCulture));
        }
        if (times.Count == 0)
        {
            throw new InvalidOperationException("h2load's request log has no completed request.");
        }
        times.Sort();
        return (Rank(0.50) / 1000, Rank(0.99) / 1000);

        double Rank(double fraction) => times[Math.Max(0, (int)Math.Ceiling(fraction * times.Count) - 1)];
    }

    internal static LoadResult ParseWrk(string output)
    {
        Match rps = WrkRps().Match(output);
        Match requests = WrkRequests().Match(output);
        if (!rps.Success || !requests.Success)
        {
            throw new InvalidOperationException($"wrk printed no request rate: {Tail(output)}");
        }
        if (WrkNon2xx().Match(output) is { Success: true } bad)
        {
            throw new InvalidOperationException($"wrk got {bad.Groups[1].Value} non-2xx/3xx responses.");
        }
        if (WrkSocketErrors().Match(output) is { Success: true } errors)
        {
            // Churn can see a few connect errors under load; worth seeing, not worth discarding the sample.
            Console.Error.WriteLine($"  note: wrk {errors.Value.Trim()}");
        }
        Match p99 = WrkP99().Match(output);
        double p99Milliseconds = p99.Success ? ToMilliseconds(Number(p99.Groups[1].Value), p99.Groups[2].Value) : double.NaN;
        Match p50 = WrkP50().Match(output);
        double p50Milliseconds = p50.Success ? ToMilliseconds(Number(p50.Groups[1].Value), p50.Groups[2].Value) : double.NaN;
        return new LoadResult(
            Number(rps.Groups[1].Value),
            // wrk 4.1 prints 0.00us when its percentile walk never reaches the rank, which happens under
            // the pipelining script: it records one latency per batch of 16, but its coordinated-omission
            // correction assumes one per response (runtime / responses per connection) and adds
            // synthetic samples below the recorded minimum, where the walk (minimum to maximum) never
            // looks. Once they pass 1% of the count, p99 comes out as 0: "not measured", not "instant".
            // Even when it prints a figure there it is one per batch, so pipelined runs take theirs from
            // echo_load instead (MeasureAsync).
            p99Milliseconds > 0 ? p99Milliseconds : double.NaN,
            Number(requests.Groups[1].Value),
            p50Milliseconds > 0 ? p50Milliseconds : double.NaN);
    }

    private static LoadResult ParseH2load(string output)
    {
        Match rps = H2loadRps().Match(output);
        Match requests = H2loadRequests().Match(output);
        if (!rps.Success || !requests.Success)
        {
            throw new InvalidOperationException($"h2load printed no request rate: {Tail(output)}");
        }
        long failed = long.Parse(requests.Groups[2].Value, CultureInfo.InvariantCulture);
        long errored = long.Parse(requests.Groups[3].Value, CultureInfo.InvariantCulture);
        if (failed + errored > 0)
        {
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  note: h2load {failed} failed, {errored} errored requests"));
        }
        return new LoadResult(Number(rps.Groups[1].Value), double.NaN, Number(requests.Groups[1].Value));
    }

    private static double Number(string text) => double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);

    private static string Tail(string output) => output.Length <= 600 ? output.Trim() : output[^600..].Trim();

    private static double ToMilliseconds(double value, string unit) => unit switch
    {
        "us" => value / 1000,
        "ms" => value,
        "s" => value * 1000,
        "m" => value * 60_000,
        _ => double.NaN,
    };

    [GeneratedRegex(@"Requests/sec:\s+([0-9.]+)")]
    internal static partial Regex WrkRps();

    [GeneratedRegex(@"([0-9]+) requests in")]
    private static partial Regex WrkRequests();

    [GeneratedRegex(@"99%\s+([0-9.]+)(us|ms|s|m)\b")]
    private static partial Regex WrkP99();

    [GeneratedRegex(@"50%\s+([0-9.]+)(us|ms|s|m)\b")]
    private static partial Regex WrkP50();

    [GeneratedRegex(@"Non-2xx or 3xx responses: ([0-9]+)")]
    internal static partial Regex WrkNon2xx();

    [GeneratedRegex(@"Socket errors: [^\n]*")]
    private static partial Regex WrkSocketErrors();

    [GeneratedRegex(@"finished in [0-9.]+\w*, ([0-9.]+) req/s")]
    internal static partial Regex H2loadRps();

    [GeneratedRegex(@"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored")]
    internal static partial Regex H2loadRequests();
}
