using EpollTransport;

namespace DemoWeb;

/// <summary>
/// DemoWeb's own switches, read from configuration, so `--transport sockets`, `DEMO_…`-free environment
/// variables, appsettings.json and `--urls` all work the usual ASP.NET Core way.
/// </summary>
public sealed record DemoSettings(
    string Transport,
    int? Threads,
    bool Inline,
    ApplicationSchedulingMode? Scheduling,
    string[] Urls,
    int EchoPort,
    bool EchoUpper,
    int H2cPort,
    bool Https,
    int HttpsPort,
    int? ListenFd = null,
    bool DashboardHub = true,
    long? MaxReadBuffer = null)
{
    public const string DefaultUrl = "http://localhost:5000";

    public bool IsEpoll => Transport == "epoll";

    public static DemoSettings From(IConfiguration configuration)
    {
        string transport = (configuration["transport"] ?? "epoll").ToLowerInvariant();
        if (transport is not ("epoll" or "sockets"))
        {
            throw new ArgumentException($"--transport must be 'epoll' or 'sockets'; it was '{configuration["transport"]}'.");
        }
        string urls = configuration["urls"] is { Length: > 0 } configured ? configured : DefaultUrl;
        return new DemoSettings(
            transport,
            configuration.GetValue<int?>("threads"),
            configuration.GetValue<bool>("inline"),
            ParseScheduling(configuration),
            urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            Port(configuration, "echo-port", 5001),
            configuration.GetValue<bool>("echo-upper"),
            Port(configuration, "h2c-port", 5002),
            configuration.GetValue<bool>("https"),
            Port(configuration, "https-port", 5003),
            ParseListenFd(configuration),
            // `--dashboard-hub false` leaves /hubs/stats unmapped, so the dashboard falls back to polling /stats.
            configuration.GetValue("dashboard-hub", true),
            ParseMaxReadBuffer(configuration));
    }

    /// <summary>
    /// `--max-read-buffer N`: the transport's MaxReadBufferSize in bytes, on either transport, so a
    /// benchmark can hold both to the same bound (an upload through a tiny buffer pauses and resumes the
    /// transport after almost every read). Absent: the transport's own default.
    /// </summary>
    private static long? ParseMaxReadBuffer(IConfiguration configuration)
    {
        long? bytes = configuration.GetValue<long?>("max-read-buffer");
        if (bytes is < 1)
        {
            throw new ArgumentOutOfRangeException("max-read-buffer", bytes, $"--max-read-buffer must be a positive number of bytes; it was {bytes}.");
        }
        return bytes;
    }

    /// <summary>
    /// `--listen-fd N`: serve HTTP on an inherited listening socket (systemd socket activation passes
    /// fd 3; a supervisor that keeps the socket across restarts passes its own) instead of the URLs.
    /// </summary>
    private static int? ParseListenFd(IConfiguration configuration)
    {
        int? fd = configuration.GetValue<int?>("listen-fd");
        if (fd is < 0)
        {
            throw new ArgumentOutOfRangeException("listen-fd", fd, $"--listen-fd must be an open descriptor number; it was {fd}.");
        }
        return fd;
    }

    /// <summary>`--scheduling inline|threadpool`: where the epoll transport runs application code (its default when absent).</summary>
    private static ApplicationSchedulingMode? ParseScheduling(IConfiguration configuration) => configuration["scheduling"]?.ToLowerInvariant() switch
    {
        null or "" => null,
        "inline" => ApplicationSchedulingMode.Inline,
        "threadpool" or "thread-pool" => ApplicationSchedulingMode.ThreadPool,
        _ => throw new ArgumentException($"--scheduling must be 'inline' or 'threadpool'; it was '{configuration["scheduling"]}'."),
    };

    private static int Port(IConfiguration configuration, string key, int defaultPort)
    {
        int port = configuration.GetValue<int?>(key) ?? defaultPort;
        if (port is < -1 or > 65535)
        {
            throw new ArgumentOutOfRangeException(key, port, $"--{key} must be a port between 0 and 65535 (or -1 to turn it off); it was {port}.");
        }
        return port;
    }
}
