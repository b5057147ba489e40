namespace EpollTransport.Perf;

internal enum EchoMode
{
    PingPong,
    InFlight,
    Stream,
}

/// <summary>
/// TCP echo through DemoWeb's raw ConnectionHandler, driven by echo_load (which checks every echoed
/// byte and fails the sample on any mismatch). Message modes report msg/s and CPU per 1,000 messages;
/// streaming reports MiB/s and CPU per GiB echoed.
/// </summary>
internal sealed class EchoScenario(string name, EchoMode mode, int connections)
    : LoadScenario(name, mode == EchoMode.Stream ? "MiB/s" : "msg/s")
{
    // One client thread: the client's cost per message is a recv and a send, well under the server's,
    // and a second thread would only take CPU the two-core box needs for the server.
    private const int ClientThreads = 1;

    public override string CpuUnit => mode == EchoMode.Stream ? "CPU ms / GiB" : "CPU ms / 1k msg";

    // In streaming the round trip of a 64 KiB write mostly measures how full the window is.
    public override bool HasP99 => mode != EchoMode.Stream;

    public override IReadOnlyList<string> Tools => [EchoClient.Binary];

    protected override double CpuPer => mode == EchoMode.Stream ? 1 << 30 : 1000;

    protected override async Task<LoadResult> RunLoadAsync(DemoServerProcess server, int seconds, CancellationToken cancellation)
    {
        string modeName = mode switch
        {
            EchoMode.PingPong => "pingpong",
            EchoMode.InFlight => "inflight",
            _ => "stream",
        };
        Dictionary<string, double> summary = await EchoClient.RunAsync(server.EchoPort, modeName, connections, seconds, ClientThreads, Deadline(seconds), cancellation,
            placement: server.Placement);
        double p99 = HasP99 ? summary["p99_us"] / 1000 : double.NaN;
        return mode == EchoMode.Stream
            ? new LoadResult(summary["mib_per_sec"], p99, summary["bytes"])
            : new LoadResult(summary["msgs_per_sec"], p99, summary["messages"]);
    }
}
