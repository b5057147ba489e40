using System.Globalization;

namespace EpollTransport.Perf;

/// <summary>
/// 100 MiB uploads, one after another on one keep-alive connection, to DemoWeb's <c>POST /upload</c>
/// (which reads and counts the body, so nothing is sent back but the count), through echo_load's upload
/// mode: the client checks every count and uploads until the sample's seconds are up, at least once,
/// so a sample is several uploads, not one noisy number. With a bounded transport read buffer
/// (<c>--max-read-buffer</c>, applied to whichever transport runs) the transport pauses reading whenever
/// that much is buffered and resumes when the application has taken half: at 64 B after almost every
/// read, which is the flow issue 27 found slow on a busy host. Reports MiB/s (higher is better) and
/// server CPU per GiB uploaded.
/// </summary>
internal sealed class UploadScenario(string name, long? readBufferBytes) : LoadScenario(name, "MiB/s")
{
    public const long UploadBytes = 100L * 1024 * 1024;

    public override string CpuUnit => "CPU ms / GiB";

    public override bool IsHttp => true;

    public override IReadOnlyList<string> Tools => [EchoClient.Binary];

    /// <summary>The transport's read buffer, or none: the transport's own default.</summary>
    public override IReadOnlyList<string> ServerArguments =>
        readBufferBytes is long bytes ? ["--max-read-buffer", bytes.ToString(CultureInfo.InvariantCulture)] : [];

    protected override double CpuPer => 1 << 30;

    // Each run (a warm-up slice too) ends with the upload under way when its time is up: about one more
    // upload per run, 0.2–1 s on an idle box, several seconds with busy neighbours. A bounded read buffer
    // needs a server of its own, which starts cold and warms up for 5–7 s instead of 2–3.
    public override double EstimatedSeconds(int seconds) => base.EstimatedSeconds(seconds) + 2 + (readBufferBytes is null ? 0 : 3);

    protected override async Task<LoadResult> RunLoadAsync(DemoServerProcess server, int seconds, CancellationToken cancellation)
    {
        Dictionary<string, double> summary = await EchoClient.RunAsync(server.HttpPort, "upload", connections: 1, seconds, threads: 1, Deadline(seconds), cancellation,
            placement: server.Placement, size: UploadBytes);
        return new LoadResult(summary["mib_per_sec"], double.NaN, summary["bytes"]);
    }
}
