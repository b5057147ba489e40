namespace EpollTransport.Perf;

/// <summary>Every scenario of the suite, in run order. Targets.cs refers to these names.</summary>
internal static class ScenarioCatalog
{
    public const string Plaintext64 = "plaintext 64";
    public const string Plaintext256 = "plaintext 256";
    public const string Pipelined = "plaintext pipelined x16";
    public const string Json = "json 256";
    public const string Churn = "connection churn";
    public const string H2c = "h2c";

    // One keep-alive connection, one request at a time (issue 24). Named so that `--only "one conn"`
    // takes all four and `--only https` the TLS rows.
    public const string OneConnectionPlaintext = "one conn plaintext";
    public const string OneConnectionHttps11 = "one conn https/1.1";
    public const string OneConnectionH2c = "one conn h2c";
    public const string OneConnectionHttps2 = "one conn https/2";
    public const string HttpsJson64 = "https json 64";

    public const string EchoPingPong = "echo 64 B ping-pong (64 conns)";
    public const string EchoInFlight = "echo 4 KiB x4 in flight (64 conns)";
    public const string EchoStream = "echo 64 KiB streaming (16 conns)";

    // Uploads through the transport's read buffer (issue 27); `--only upload` takes all three.
    public const string Upload64B = "upload 100 MiB (read buffer 64 B)";
    public const string Upload64KiB = "upload 100 MiB (read buffer 64 KiB)";
    public const string UploadDefault = "upload 100 MiB (read buffer default)";

    public const string Idle = "idle 10k connections";

    /// <summary>What `--only @issues-24-27` selects: the scenarios issues 24 and 27 set targets on.</summary>
    public const string IssueGroup = "@issues-24-27";

    public static readonly Scenario[] All =
    [
        new HttpLoadScenario(Plaintext64, HttpTool.Wrk, "/plaintext", ["-c", "64"]),
        new HttpLoadScenario(Plaintext256, HttpTool.Wrk, "/plaintext", ["-c", "256"]),
        HttpLoadScenario.Pipelined(Pipelined, connections: 256, depth: 16),
        new HttpLoadScenario(Json, HttpTool.Wrk, "/json", ["-c", "256"]),
        new HttpLoadScenario(Churn, HttpTool.Wrk, "/plaintext", ["-c", "32", "-H", "Connection: close"]),
        new HttpLoadScenario(H2c, HttpTool.H2load, "/plaintext", ["-c", "16", "-m", "32"]),
        HttpLoadScenario.OneConnection(OneConnectionPlaintext, HttpTool.Wrk, HttpPort.Http),
        HttpLoadScenario.OneConnection(OneConnectionHttps11, HttpTool.H2load, HttpPort.Https, "--h1"),
        HttpLoadScenario.OneConnection(OneConnectionH2c, HttpTool.H2load, HttpPort.H2c),
        // h2load offers h2 over ALPN by default.
        HttpLoadScenario.OneConnection(OneConnectionHttps2, HttpTool.H2load, HttpPort.Https),
        // wrk offers no ALPN, so the TLS port answers it in HTTP/1.1.
        new HttpLoadScenario(HttpsJson64, HttpTool.Wrk, "/json", ["-c", "64"], port: HttpPort.Https),
        new EchoScenario(EchoPingPong, EchoMode.PingPong, connections: 64),
        new EchoScenario(EchoInFlight, EchoMode.InFlight, connections: 64),
        new EchoScenario(EchoStream, EchoMode.Stream, connections: 16),
        new UploadScenario(Upload64B, readBufferBytes: 64),
        new UploadScenario(Upload64KiB, readBufferBytes: 64 * 1024),
        new UploadScenario(UploadDefault, readBufferBytes: null),
        new IdleConnectionsScenario(Idle, connections: 10_000),
    ];

    /// <summary>
    /// Named groups for `--only @NAME`. The issues' subset: every scenario they added (one connection,
    /// HTTPS JSON, uploads) and the loaded rows issue 24 holds to today's default (plaintext 64, JSON,
    /// echo ping-pong, pipelined, churn, h2c).
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string[]> Groups = new Dictionary<string, string[]>(StringComparer.OrdinalIgnoreCase)
    {
        [IssueGroup] =
        [
            Plaintext64, Pipelined, Json, Churn, H2c,
            OneConnectionPlaintext, OneConnectionHttps11, OneConnectionH2c, OneConnectionHttps2, HttpsJson64,
            EchoPingPong, Upload64B, Upload64KiB, UploadDefault,
        ],
    };

    public static Scenario? Find(string name) => All.FirstOrDefault(s => s.Name == name);
}
