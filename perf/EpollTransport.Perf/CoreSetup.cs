using System.Globalization;

namespace EpollTransport.Perf;

/// <summary>Where the server and the load generators run.</summary>
internal enum CoreSetup
{
    /// <summary>No pinning: DemoWeb and the load generators share every CPU, as the scheduler places them.</summary>
    Shared,

    /// <summary>DemoWeb pinned to the last CPU, every load generator to the others (taskset).</summary>
    Dedicated,
}

/// <summary>
/// A <see cref="CoreSetup"/> on a machine with <paramref name="Processors"/> CPUs: which CPUs DemoWeb and
/// the load generators are pinned to (none in the shared setup), and how a command is started there.
/// </summary>
internal sealed record CorePlacement(CoreSetup Setup, int Processors)
{
    /// <summary>The command that pins what it starts (package util-linux).</summary>
    public const string PinningTool = "taskset";

    /// <summary>The shared setup on this machine: nothing is pinned.</summary>
    public static CorePlacement Unpinned { get; } = new(CoreSetup.Shared, Environment.ProcessorCount);

    /// <summary>The dedicated setup needs one CPU for the server and at least one for the load.</summary>
    public static bool CanDedicate(int processors) => processors >= 2;

    /// <summary>DemoWeb's CPU list for taskset, or null when it is not pinned.</summary>
    public string? ServerCpus => Setup == CoreSetup.Dedicated ? Text(Processors - 1) : null;

    /// <summary>The load generators' CPU list for taskset, or null when they are not pinned.</summary>
    public string? LoadCpus => Setup == CoreSetup.Dedicated ? Processors == 2 ? Text(0) : $"0-{Text(Processors - 2)}" : null;

    /// <summary>The heading of this setup's tables in the report.</summary>
    public string Heading => Setup == CoreSetup.Shared
        ? "Shared cores"
        : $"Dedicated core (server on CPU {ServerCpus}, load on {(Processors == 2 ? "CPU" : "CPUs")} {LoadCpus})";

    /// <summary>The setup in a sentence, for the report's header.</summary>
    public string Phrase => Setup == CoreSetup.Shared
        ? "with shared cores (nothing pinned)"
        : $"with a dedicated core (DemoWeb pinned to CPU {ServerCpus}, every load generator to {(Processors == 2 ? "CPU" : "CPUs")} {LoadCpus}, with taskset)";

    /// <summary>How the setup is named on the command line, in the JSON and on the progress line.</summary>
    public static string Name(CoreSetup setup) => setup == CoreSetup.Shared ? "shared" : "dedicated";

    /// <summary>The setup named <paramref name="text"/> ("shared" or "dedicated", any case).</summary>
    public static CoreSetup Parse(string text) => text.ToLowerInvariant() switch
    {
        "shared" => CoreSetup.Shared,
        "dedicated" => CoreSetup.Dedicated,
        _ => throw new FormatException($"'{text}' is not a core setup (shared or dedicated)."),
    };

    /// <summary>How to start the server command <paramref name="fileName"/> in this setup.</summary>
    public (string FileName, string[] Arguments) Server(string fileName, IEnumerable<string> arguments) => Pin(ServerCpus, fileName, arguments);

    /// <summary>How to start the load generator <paramref name="fileName"/> in this setup.</summary>
    public (string FileName, string[] Arguments) Load(string fileName, IEnumerable<string> arguments) => Pin(LoadCpus, fileName, arguments);

    private static (string FileName, string[] Arguments) Pin(string? cpus, string fileName, IEnumerable<string> arguments) =>
        cpus is null ? (fileName, arguments.ToArray()) : (PinningTool, ["-c", cpus, fileName, .. arguments]);

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);
}
