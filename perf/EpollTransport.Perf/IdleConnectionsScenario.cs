using System.Diagnostics;
using System.Globalization;

namespace EpollTransport.Perf;

/// <summary>
/// Server memory per idle keep-alive connection: the server's RSS before and after echo_load opens
/// <c>connections</c> connections, each answering one GET /plaintext (so the server provably holds
/// it) and then left idle. Runs on a server of its own: heaps sized by earlier throughput scenarios
/// would swamp the delta.
/// </summary>
internal sealed class IdleConnectionsScenario(string name, int connections) : Scenario(name, "KiB/conn", higherIsBetter: false)
{
    private const int WarmupConnections = 200;
    private static readonly TimeSpan SamplePeriod = TimeSpan.FromMilliseconds(250);
    // RSS counts as settled when it moved by at most this much over the last second (a few bytes per
    // connection of 10,000); if it never settles within the deadline the last reading is used.
    private const long SettledKiB = 256;
    private const int SettledSamples = 5;
    private static readonly TimeSpan SettleDeadline = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan OpenDeadline = TimeSpan.FromSeconds(150);

    public override bool NeedsOwnServer => true;

    // The issue measures idle memory with shared cores only: pinning changes neither the connections
    // nor what the server holds for them.
    public override bool InDedicatedSetup => false;

    // Two warm-up connection bursts, two RSS settles of at least a second and a fresh server; about the
    // same whatever the seconds.
    public override double EstimatedSeconds(int seconds) => 15;

    public override IReadOnlyList<string> Tools => [EchoClient.Binary];

    public override async Task<Measurement> MeasureAsync(DemoServerProcess server, int seconds, CancellationToken cancellation)
    {
        long limit = server.OpenFilesLimit();
        if (limit < connections + 1000)
        {
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"DemoWeb may open only {limit} files; {connections} idle connections need {connections + 1000} (raise the hard limit: ulimit -Hn)."));
        }
        // Warm-up: JIT the accept and request path and fill the transport's pools, so their one-time
        // cost does not land in the per-connection figure.
        (string warmup, string[] warmupArguments) = server.Placement.Load(EchoClient.Path, Arguments(WarmupConnections, holdSeconds: 0));
        await Processes.RunAsync(warmup, warmupArguments, TimeSpan.FromSeconds(60), cancellation);
        long before = await SettledResidentKiBAsync(server, cancellation);

        // The hold bound is a backstop; the client is released by closing its stdin.
        (string clientFile, string[] clientArguments) = server.Placement.Load(EchoClient.Path, Arguments(connections, holdSeconds: 300));
        var start = new ProcessStartInfo(clientFile) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in clientArguments)
        {
            start.ArgumentList.Add(argument);
        }
        using Process client = Processes.StartOrExplain(start);
        Task<string> errors = client.StandardError.ReadToEndAsync(CancellationToken.None);
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            deadline.CancelAfter(OpenDeadline);
            string? line;
            do
            {
                line = await client.StandardOutput.ReadLineAsync(deadline.Token);
            }
            while (line is not null && !line.StartsWith("ready ", StringComparison.Ordinal));
            if (line is null)
            {
                await client.WaitForExitAsync(deadline.Token);
                string reason = (await errors).Trim();
                throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"echo_load exited with {client.ExitCode} before all {connections} connections were open: {reason}"));
            }
            server.EnsureRunning();
            long after = await SettledResidentKiBAsync(server, cancellation);

            client.StandardInput.Close();
            string rest = await client.StandardOutput.ReadToEndAsync(deadline.Token);
            await client.WaitForExitAsync(deadline.Token);
            if (client.ExitCode != 0)
            {
                string reason = (await errors).Trim();
                throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"echo_load idle exited with {client.ExitCode}: {reason} {rest.Trim()}"));
            }
            Console.Error.WriteLine(FormattableString.Invariant($"  idle: {line}; server RSS {before:N0} KiB -> {after:N0} KiB"));
            return new Measurement((after - before) / (double)connections, double.NaN, double.NaN);
        }
        catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
        {
            throw new TimeoutException(string.Create(CultureInfo.InvariantCulture, $"echo_load idle did not open and release {connections} connections within {OpenDeadline.TotalSeconds:F0} s."));
        }
        finally
        {
            Processes.Kill(client);
        }

        string[] Arguments(int count, int holdSeconds) =>
            ["127.0.0.1", server.HttpPort.ToString(CultureInfo.InvariantCulture), "idle", count.ToString(CultureInfo.InvariantCulture), holdSeconds.ToString(CultureInfo.InvariantCulture)];
    }

    private static async Task<long> SettledResidentKiBAsync(DemoServerProcess server, CancellationToken cancellation)
    {
        var recent = new Queue<long>();
        var clock = Stopwatch.StartNew();
        while (true)
        {
            recent.Enqueue(server.ResidentKiB());
            if (recent.Count > SettledSamples)
            {
                recent.Dequeue();
            }
            if (recent.Count == SettledSamples && recent.Max() - recent.Min() <= SettledKiB)
            {
                return recent.Last();
            }
            if (clock.Elapsed > SettleDeadline)
            {
                Console.Error.WriteLine(FormattableString.Invariant($"  note: server RSS still moving after {SettleDeadline.TotalSeconds:F0} s ({recent.Min():N0}..{recent.Max():N0} KiB); using the last reading"));
                return recent.Last();
            }
            await Task.Delay(SamplePeriod, cancellation);
        }
    }
}
