namespace EpollTransport.Perf;

/// <summary>One way of running DemoWeb: command-line switches plus environment variables.</summary>
internal sealed record ServerConfiguration(string Name, string[] Arguments, (string Name, string Value)[] Environment)
{
    public const string Baseline = "Sockets default";
    public const string SocketsTuned = "Sockets tuned";
    public const string EpollDefault = "Epoll default";
    public const string EpollInline = "Epoll inline";

    /// <summary>In run order; the first is the baseline every ratio is taken against.</summary>
    public static readonly ServerConfiguration[] All =
    [
        new(Baseline, ["--transport", "sockets"], []),
        // The best Sockets can do without code changes: inline scheduling in Kestrel and in the runtime's socket engine.
        new(SocketsTuned, ["--transport", "sockets", "--inline", "true"], [("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1")]),
        new(EpollDefault, ["--transport", "epoll"], []),
        new(EpollInline, ["--transport", "epoll", "--inline", "true"], []),
    ];
}
