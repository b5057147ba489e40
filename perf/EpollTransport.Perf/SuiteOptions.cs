using System.Globalization;

namespace EpollTransport.Perf;

/// <summary>
/// Command line of the suite: [rounds] [seconds] [--rounds N] [--seconds S] [--only a,b] [--configs x,y]
/// [--setup shared|dedicated|both] [--busy N|cores]. <paramref name="Busy"/> is the number of busy
/// neighbours (<see cref="BusyNeighbours"/>), 0 for none.
/// </summary>
internal sealed record SuiteOptions(int Rounds, int Seconds, string[] Only, string[] Configs, string AppLogLevel, CoreSetup[] Setups, int Busy = 0, ServerConfiguration? Before = null)
{
    /// <summary>More spinners than this is a typo, not a benchmark.</summary>
    public const int MaxBusy = 64;

    /// <summary>
    /// DemoWeb's log level under load. Off, as TechEmpower's ASP.NET Core entries run: with any logger
    /// enabled, hosting opens a log scope and an Activity per request, the same cost under every
    /// transport, which only dilutes the comparison between them.
    /// </summary>
    public const string DefaultAppLogLevel = "None";

    public const string Usage = """
        usage: EpollTransport.Perf [suite|http] [rounds=3] [seconds=5] [options]
               EpollTransport.Perf profile [seconds=5] [--only TEXT[,TEXT]] [--configs TEXT[,TEXT]]
               EpollTransport.Perf accept [seconds=5] [clients=32]
               EpollTransport.Perf report RESULTS.json [RESULTS.json ...]

          suite                  every scenario (the default); http: the HTTP scenarios only
          --rounds N             alternating rounds (medians over them)
          --seconds S            measured seconds per scenario (after a 2–12 s warm-up that lasts until the server's JIT has settled)
          --only TEXT[,TEXT]     scenarios whose name contains any TEXT (case-insensitive; repeatable), e.g.
                                 "one conn", upload, https; @issues-24-27 names the issues' subset (every
                                 one-connection, HTTPS and upload scenario, plaintext 64, json 256, echo
                                 ping-pong, pipelined, churn, h2c)
          --configs TEXT[,TEXT]  configurations whose name contains any TEXT (Sockets default is the baseline of every ratio);
                                 default: Sockets default, Sockets tuned, Epoll safe inline, Epoll default (not Epoll unsafe inline)
          --setup shared|dedicated|both
                                 shared: DemoWeb and the load generators unpinned (as before); dedicated: DemoWeb
                                 pinned to the last CPU, every load generator to the others (taskset; no idle
                                 scenario); both (the default): each round takes shared, then dedicated
          --app-log-level LEVEL  DemoWeb's Logging:LogLevel:Default during the run (default None: logging off)
          --busy N|cores         N busy neighbours (cores: one per CPU; default 0): processes spinning at normal
                                 priority from before each sample's warm-up to the end of its measured run,
                                 unpinned with shared cores, on DemoWeb's CPU in the dedicated setup; the
                                 results say so and their files are named <stamp>-busy<N>.*
          --before DIR           also run Epoll default from the DemoWeb build in DIR (an earlier commit's
                                 src/DemoWeb/bin/Release/net10.0), as "Epoll default (before)", alternating
                                 with the others: a change against the code before it, in the same run

          profile                each selected load scenario (default: all) on each selected configuration
                                 (default: Sockets default and Epoll default) under `perf record`, with the
                                 server's CPU split into transport, thread pool, GC, JIT and Kestrel+app;
                                 --setup applies too (default: shared)

          soak [MINUTES]         one DemoWeb (default: Epoll default; --configs NAME for another) under HTTP/1.1
                                 keep-alive and churn, h2c, WebSocket and TCP echo load at once for MINUTES
                                 (default 10): RSS slope after the warm-up, errors, descriptors and threads
                                 back to baseline

          report                 judges saved runs (perf/results/<stamp>.json) again with the current
                                 target rules: one run's tables, or for several, how often each target held
        """;

    /// <summary>The suite's command line: positional rounds, then seconds.</summary>
    public static SuiteOptions Parse(IReadOnlyList<string> args) => Parse(args, profile: false);

    /// <summary>The profile command's: one profiled run per scenario and configuration, so only seconds is positional.</summary>
    public static SuiteOptions ParseProfile(IReadOnlyList<string> args) => Parse(args, profile: true);

    private static SuiteOptions Parse(IReadOnlyList<string> args, bool profile)
    {
        // Profile takes no rounds: its first positional is the seconds, as if rounds had been given.
        int rounds = profile ? 1 : 3, seconds = 5, positional = profile ? 1 : 0;
        var only = new List<string>();
        var configs = new List<string>();
        string appLogLevel = DefaultAppLogLevel;
        // The suite takes both setups unless told; a profile only the shared one, as before --setup existed.
        CoreSetup[] setups = profile ? [CoreSetup.Shared] : [CoreSetup.Shared, CoreSetup.Dedicated];
        int busy = 0;
        ServerConfiguration? before = null;
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            switch (arg)
            {
                case "--rounds" when !profile:
                    rounds = Positive(Value(args, ref i), arg);
                    break;
                case "--seconds":
                    seconds = Positive(Value(args, ref i), arg);
                    break;
                case "--only":
                    only.AddRange(List(Value(args, ref i)).Select(Group));
                    break;
                case "--busy" when !profile:
                    busy = ParseBusy(Value(args, ref i));
                    break;
                case "--before" when !profile:
                    before = ServerConfiguration.Before(Value(args, ref i));
                    break;
                case "--app-log-level":
                    appLogLevel = LogLevel(Value(args, ref i));
                    break;
                case "--configs":
                    configs.AddRange(List(Value(args, ref i)));
                    break;
                case "--setup":
                    setups = ParseSetups(Value(args, ref i));
                    break;
                default:
                    if (arg.StartsWith("--", StringComparison.Ordinal))
                    {
                        throw new ArgumentException($"Unknown option {arg}.");
                    }
                    if (positional == 0)
                    {
                        rounds = Positive(arg, "rounds");
                    }
                    else if (positional == 1)
                    {
                        seconds = Positive(arg, "seconds");
                    }
                    else
                    {
                        throw new ArgumentException($"Unexpected argument '{arg}'.");
                    }
                    positional++;
                    break;
            }
        }
        return new SuiteOptions(rounds, seconds, only.ToArray(), configs.ToArray(), appLogLevel, setups, busy, before);
    }

    /// <summary>Scenarios whose name contains any --only text, or that a named group (@NAME) lists; all without --only.</summary>
    public IReadOnlyList<Scenario> SelectScenarios(IEnumerable<Scenario> scenarios) =>
        scenarios.Where(s => Only.Length == 0 || Only.Any(o => o.StartsWith('@')
            ? ScenarioCatalog.Groups[o].Contains(s.Name, StringComparer.Ordinal)
            : s.Name.Contains(o, StringComparison.OrdinalIgnoreCase))).ToArray();

    /// <summary>An --only text as given, or a group name checked against the catalog's groups.</summary>
    private static string Group(string text) =>
        !text.StartsWith('@') || ScenarioCatalog.Groups.ContainsKey(text)
            ? text
            : throw new ArgumentException($"--only {text}: no such group; the groups are {string.Join(", ", ScenarioCatalog.Groups.Keys)}.");

    /// <summary>`--busy N` (0 to <see cref="MaxBusy"/>) or `--busy cores` (one per CPU of this machine).</summary>
    internal static int ParseBusy(string text, int? processors = null) =>
        string.Equals(text, "cores", StringComparison.OrdinalIgnoreCase)
            ? processors ?? Environment.ProcessorCount
            : int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int count) && count <= MaxBusy
                ? count
                : throw new ArgumentException($"--busy must be a number of spinning processes from 0 to {MaxBusy}, or 'cores'; it was '{text}'.");

    /// <summary>The default set without --configs; with it, every configuration (unsafe inline too) whose name matches.</summary>
    /// <summary>The selected configurations, then the earlier build's Epoll default when --before names one.</summary>
    public IReadOnlyList<ServerConfiguration> SelectConfigurations() =>
        Before is null ? SelectNamedConfigurations() : [.. SelectNamedConfigurations(), Before];

    private IReadOnlyList<ServerConfiguration> SelectNamedConfigurations() => Configs.Length == 0
        ? ServerConfiguration.DefaultSet
        : ServerConfiguration.All.Where(c => Configs.Any(o => c.Name.Contains(o, StringComparison.OrdinalIgnoreCase))).ToArray();

    private static CoreSetup[] ParseSetups(string text) => text.ToLowerInvariant() switch
    {
        "both" => [CoreSetup.Shared, CoreSetup.Dedicated],
        "shared" => [CoreSetup.Shared],
        "dedicated" => [CoreSetup.Dedicated],
        _ => throw new ArgumentException($"--setup must be shared, dedicated or both; it was '{text}'."),
    };

    private static string Value(IReadOnlyList<string> args, ref int i) =>
        ++i < args.Count ? args[i] : throw new ArgumentException($"{args[i - 1]} needs a value.");

    private static IEnumerable<string> List(string value) =>
        value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static string LogLevel(string text) =>
        Enum.TryParse(text, ignoreCase: true, out Microsoft.Extensions.Logging.LogLevel level) && Enum.IsDefined(level) && !int.TryParse(text, out _)
            ? level.ToString()
            : throw new ArgumentException($"--app-log-level must be one of {string.Join(", ", Enum.GetNames<Microsoft.Extensions.Logging.LogLevel>())}; it was '{text}'.");

    private static int Positive(string text, string name) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) && value > 0
            ? value
            : throw new ArgumentException($"{name} must be a positive integer; it was '{text}'.");
}
