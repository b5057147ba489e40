namespace EpollTransport.Perf;

/// <summary>
/// One way of running DemoWeb: command-line switches plus environment variables, and the DemoWeb build
/// to run when it is not this tree's (<see cref="EpollDefaultBefore"/>); or, with
/// <paramref name="NativeServer"/>, a C program under perf/ run instead of DemoWeb with
/// <paramref name="Arguments"/> after its port (<see cref="CEpollServer"/>).
/// </summary>
internal sealed record ServerConfiguration(string Name, string[] Arguments, (string Name, string Value)[] Environment, string? DemoWebDll = null,
    NativeTool.Program? NativeServer = null)
{
    public const string Baseline = "Sockets default";
    public const string SocketsTuned = "Sockets tuned";

    /// <summary>
    /// Safe inline scheduling (ApplicationSchedulingMode.Inline): the candidate default, which may
    /// replace <see cref="EpollDefault"/> only where it is no worse than it in every scenario.
    /// </summary>
    public const string EpollSafeInline = "Epoll safe inline";

    /// <summary>What UseEpollTransport() gives with no options: thread-pool dispatch, and the no-regression reference.</summary>
    public const string EpollDefault = "Epoll default";

    /// <summary>
    /// The configuration the targets against Sockets judge: what a user gets from UseEpollTransport()
    /// with no options. Thread-pool dispatch stays the default (docs/design.md, "Why thread-pool
    /// dispatch stays the default"); <see cref="EpollSafeInline"/> is judged only against it, on the
    /// issue's condition for replacing it.
    /// </summary>
    public const string Judged = EpollDefault;

    /// <summary>
    /// Epoll default from another build (--before DIR: a DemoWeb built from an earlier commit), so that a
    /// change is judged against the code before it in the same run, alternating, on the same box.
    /// </summary>
    public const string EpollDefaultBefore = "Epoll default (before)";

    /// <summary>Epoll default run from the DemoWeb build in <paramref name="directory"/>.</summary>
    public static ServerConfiguration Before(string directory)
    {
        string dll = Path.GetFullPath(Path.Combine(directory, "DemoWeb.dll"));
        return File.Exists(dll)
            ? new(EpollDefaultBefore, ["--transport", "epoll"], [], dll)
            : throw new ArgumentException($"--before needs a directory with a DemoWeb build (DemoWeb.dll); '{dll}' does not exist.");
    }

    /// <summary>UnsafePreferInlineScheduling: inline without the watchdog. Only through --configs.</summary>
    public const string EpollUnsafeInline = "Epoll unsafe inline";

    /// <summary>
    /// The minimal C epoll server (perf/c-reference): the same GET /plaintext exchange with nothing but
    /// system calls, polling before it sleeps as the loop does (<see cref="CEpollServerSleeping"/>: sleeping
    /// at once). What this host allows one connection at all, to read a transport's ratio against. Only
    /// through --configs, and only in the HTTP/1.1 plaintext scenarios (<see cref="Serves"/>).
    /// </summary>
    public const string CEpollServer = "C epoll server";

    /// <inheritdoc cref="CEpollServer"/>
    public const string CEpollServerSleeping = "C epoll server, sleeping";

    /// <summary>The C server's source and binary.</summary>
    public static readonly NativeTool.Program CReferenceServer = new("perf/c-reference/c_reference_server.c", "perf/c-reference/bin/c_reference_server");

    /// <summary>In run order; the first is the baseline every ratio is taken against.</summary>
    public static readonly ServerConfiguration[] All =
    [
        new(Baseline, ["--transport", "sockets"], []),
        // The best Sockets can do without code changes: inline scheduling in Kestrel and in the runtime's socket engine.
        new(SocketsTuned, ["--transport", "sockets", "--inline", "true"], [("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1")]),
        new(EpollSafeInline, ["--transport", "epoll", "--scheduling", "inline"], []),
        new(EpollDefault, ["--transport", "epoll"], []),
        new(EpollUnsafeInline, ["--transport", "epoll", "--inline", "true"], []),
        // The poll lasts as long as EpollLoop.PollBeforeSleepingMicroseconds.
        new(CEpollServer, ["50"], [], NativeServer: CReferenceServer),
        new(CEpollServerSleeping, ["0"], [], NativeServer: CReferenceServer),
    ];

    /// <summary>What the suite runs unless --configs says otherwise: DemoWeb on either transport, but not unsafe inline, to keep runs short.</summary>
    public static readonly ServerConfiguration[] DefaultSet = All.Where(c => c.Name != EpollUnsafeInline && c.NativeServer is null).ToArray();

    /// <summary>
    /// Whether this configuration can serve <paramref name="scenario"/>: DemoWeb serves every scenario, the
    /// C server only HTTP/1.1 GET /plaintext without TLS; the plan leaves the other pairs out.
    /// </summary>
    public bool Serves(Scenario scenario) => NativeServer is null || scenario is HttpLoadScenario { IsPlaintextHttp11: true };

    /// <summary>
    /// What runs saved before safe inline scheduling named their Epoll configurations, and what those
    /// are called now: their "Epoll default" dispatched to the thread pool, their "Epoll inline" was
    /// unsafe inline.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> NamesBeforeSafeInline = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["Epoll inline"] = EpollUnsafeInline,
    };
}
