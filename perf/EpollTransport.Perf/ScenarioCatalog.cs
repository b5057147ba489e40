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
    public const string EchoPingPong = "echo 64 B ping-pong (64 conns)";
    public const string EchoInFlight = "echo 4 KiB x4 in flight (64 conns)";
    public const string EchoStream = "echo 64 KiB streaming (16 conns)";
    public const string Idle = "idle 10k connections";

    public static readonly Scenario[] All =
    [
        new HttpLoadScenario(Plaintext64, HttpTool.Wrk, "/plaintext", ["-c", "64"]),
        new HttpLoadScenario(Plaintext256, HttpTool.Wrk, "/plaintext", ["-c", "256"]),
        HttpLoadScenario.Pipelined(Pipelined, connections: 256, depth: 16),
        new HttpLoadScenario(Json, HttpTool.Wrk, "/json", ["-c", "256"]),
        new HttpLoadScenario(Churn, HttpTool.Wrk, "/plaintext", ["-c", "32", "-H", "Connection: close"]),
        new HttpLoadScenario(H2c, HttpTool.H2load, "/plaintext", ["-c", "16", "-m", "32"]),
        new EchoScenario(EchoPingPong, EchoMode.PingPong, connections: 64),
        new EchoScenario(EchoInFlight, EchoMode.InFlight, connections: 64),
        new EchoScenario(EchoStream, EchoMode.Stream, connections: 16),
        new IdleConnectionsScenario(Idle, connections: 10_000),
    ];

    public static Scenario? Find(string name) => All.FirstOrDefault(s => s.Name == name);
}
