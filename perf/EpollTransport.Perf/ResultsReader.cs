using System.Text.Json;

namespace EpollTransport.Perf;

/// <summary>
/// Reads a run back from its perf/results/&lt;stamp&gt;.json, so the targets can be judged again (after a
/// change to how they are judged) without measuring again. Runs written before a field existed load
/// with that field's default: no host check, DemoWeb's log level unknown, shared cores, no p50, no busy
/// neighbours. Runs written
/// before the core setups (and with them safe inline scheduling as Epoll's default) existed have their
/// Epoll configurations renamed to what they were (<see cref="ServerConfiguration.NamesBeforeSafeInline"/>)
/// and are marked <see cref="Results.PredatesSafeInline"/>, which the targets do not judge.
/// </summary>
internal static class ResultsReader
{
    public static Results Load(string path)
    {
        using JsonDocument document = ParseFile(path);
        JsonElement root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("samples", out JsonElement samplesElement))
        {
            throw new InvalidDataException($"'{path}' is not a suite run's results: it has no \"samples\".");
        }

        bool predatesSafeInline = !root.TryGetProperty("setups", out JsonElement setupsElement);
        string Configuration(string name) =>
            predatesSafeInline && ServerConfiguration.NamesBeforeSafeInline.TryGetValue(name, out string? now) ? now : name;
        ServerConfiguration[] configurations = root.GetProperty("configurations").EnumerateArray()
            .Select(c => new ServerConfiguration(
                Configuration(c.GetProperty("name").GetString()!),
                c.GetProperty("arguments").EnumerateArray().Select(a => a.GetString()!).ToArray(),
                c.GetProperty("environment").EnumerateArray().Select(e => SplitVariable(e.GetString()!)).ToArray()))
            .ToArray();
        // Scenarios are matched by name to the current catalog; one the catalog no longer has is skipped.
        Scenario[] scenarios = root.GetProperty("scenarios").EnumerateArray()
            .Select(s => ScenarioCatalog.All.FirstOrDefault(known => known.Name == s.GetProperty("name").GetString()))
            .OfType<Scenario>()
            .ToArray();
        Sample[] samples = samplesElement.EnumerateArray()
            .Select(s => new Sample(
                Configuration(s.GetProperty("configuration").GetString()!),
                s.GetProperty("scenario").GetString()!,
                s.GetProperty("round").GetInt32(),
                Number(s, "value"),
                Number(s, "p99Milliseconds"),
                Number(s, "cpuMilliseconds"),
                s.TryGetProperty("error", out JsonElement error) && error.ValueKind == JsonValueKind.String ? error.GetString() : null,
                Number(s, "probeBeforeNanoseconds"),
                Number(s, "probeAfterNanoseconds"),
                s.TryGetProperty("attempts", out JsonElement attempts) ? attempts.GetInt32() : 1,
                s.TryGetProperty("hostSlow", out JsonElement slow) && slow.GetBoolean(),
                s.TryGetProperty("warmupSeconds", out JsonElement warmup) ? warmup.GetInt32() : 0,
                s.TryGetProperty("setup", out JsonElement setup) ? CorePlacement.Parse(setup.GetString() ?? string.Empty) : CoreSetup.Shared,
                s.TryGetProperty("handoffs", out JsonElement handoffs) ? handoffs.GetInt64() : -1,
                Number(s, "p50Milliseconds")))
            .ToArray();
        CoreSetup[]? setups = predatesSafeInline ? null : setupsElement.EnumerateArray().Select(e => CorePlacement.Parse(e.GetString() ?? string.Empty)).ToArray();
        int? processors = root.TryGetProperty("machine", out JsonElement machine) && machine.TryGetProperty("processors", out JsonElement count) ? count.GetInt32() : null;
        double fastest = root.TryGetProperty("hostCheck", out JsonElement hostCheck) ? Number(hostCheck, "fastestRoundTripNanoseconds") : double.NaN;
        string appLogLevel = root.TryGetProperty("appLogLevel", out JsonElement level) ? level.GetString() ?? "unknown" : "unknown";
        string[]? serverEnvironment = root.TryGetProperty("serverEnvironment", out JsonElement environment)
            ? environment.EnumerateArray().Select(e => e.GetString() ?? string.Empty).ToArray()
            : null;
        int busy = root.TryGetProperty("busyNeighbours", out JsonElement neighbours) ? neighbours.GetInt32() : 0;
        return new Results(configurations, scenarios, samples,
            root.GetProperty("rounds").GetInt32(), root.GetProperty("seconds").GetInt32(), appLogLevel,
            root.GetProperty("startedUtc").GetDateTime(), fastest, setups, processors, predatesSafeInline, serverEnvironment, busy);
    }

    private static JsonDocument ParseFile(string path)
    {
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"'{path}' is not valid JSON: {e.Message}", e);
        }
    }

    private static double Number(JsonElement element, string name) =>
        element.TryGetProperty(name, out JsonElement value) && value.ValueKind == JsonValueKind.Number ? value.GetDouble() : double.NaN;

    private static (string Name, string Value) SplitVariable(string assignment)
    {
        int equals = assignment.IndexOf('=', StringComparison.Ordinal);
        return equals < 0 ? (assignment, string.Empty) : (assignment[..equals], assignment[(equals + 1)..]);
    }
}
