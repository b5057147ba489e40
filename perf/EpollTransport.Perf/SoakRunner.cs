using System.Diagnostics;
using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using System.Text.RegularExpressions;

namespace EpollTransport.Perf;

/// <summary>
/// The soak: one DemoWeb under a mixed load for many minutes — HTTP/1.1 keep-alive and connection churn
/// (wrk), h2c (h2load), WebSocket echo (ClientWebSocket, every message checked) and raw TCP echo
/// (echo_load, every byte checked) at once — sampling the server's RSS, open descriptors and threads
/// every few seconds. It reports the RSS slope after the warm-up, every client's errors, and whether
/// descriptors and threads come back to their baseline once the load stops; Markdown and an SVG chart
/// under perf/results/.
/// </summary>
internal static partial class SoakRunner
{
    private const int SampleSeconds = 5;
    private const int SettleSeconds = 20;

    private sealed record Point(double Seconds, long RssKiB, int Descriptors, int Sockets, int Threads);

    private sealed record LoadOutcome(string Name, string Figure, long Errors, string? Note);

    public static async Task<int> RunAsync(int minutes, string configurationName, CancellationToken cancellation)
    {
        ServerConfiguration configuration = ServerConfiguration.All.FirstOrDefault(c => c.Name.Equals(configurationName, StringComparison.OrdinalIgnoreCase))
            ?? ServerConfiguration.All.FirstOrDefault(c => c.Name.Contains(configurationName, StringComparison.OrdinalIgnoreCase))
            ?? throw new ArgumentException($"No configuration matches '{configurationName}'; configurations: {string.Join(", ", ServerConfiguration.All.Select(c => c.Name))}.");
        string demoWeb = Path.GetFullPath(SuiteRunner.DemoWebDll);
        if (!File.Exists(demoWeb))
        {
            Console.Error.WriteLine($"Build DemoWeb first: {demoWeb} is missing (dotnet build -c Release src/DemoWeb).");
            return 2;
        }
        await ToolInstaller.EnsureAsync("wrk", cancellation);
        await ToolInstaller.EnsureAsync("h2load", cancellation);
        await EchoClient.EnsureBuiltAsync(cancellation);

        int seconds = minutes * 60;
        DateTime started = DateTime.UtcNow;
        Console.Error.WriteLine($"Soak: {configuration.Name}, {minutes} min of mixed load, a sample every {SampleSeconds} s, then {SettleSeconds} s idle.");
        await using DemoServerProcess server = await DemoServerProcess.StartAsync(demoWeb, configuration, "Warning", CorePlacement.Unpinned, cancellation);
        Point baseline = Sample(server, 0);

        var points = new List<Point>();
        var clock = Stopwatch.StartNew();
        using var loadDone = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        Task sampler = Task.Run(async () =>
        {
            while (!loadDone.IsCancellationRequested)
            {
                points.Add(Sample(server, clock.Elapsed.TotalSeconds));
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(SampleSeconds), loadDone.Token);
                }
                catch (OperationCanceledException)
                {
                }
            }
        }, CancellationToken.None);

        string http = string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{server.HttpPort}/plaintext");
        string h2c = string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{server.H2cPort}/plaintext");
        string duration = string.Create(CultureInfo.InvariantCulture, $"{seconds}s");
        TimeSpan deadline = TimeSpan.FromSeconds(seconds + 120);
        Task<LoadOutcome>[] loads =
        [
            Wrk("HTTP/1.1 keep-alive (wrk, 32 connections)", ["-t", "1", "-c", "32", "-d", duration, http], deadline, cancellation),
            Wrk("HTTP/1.1 churn (wrk, 8 connections, Connection: close)", ["-t", "1", "-c", "8", "-d", duration, "-H", "Connection: close", http], deadline, cancellation),
            H2load("h2c (h2load, 4 connections × 8 streams)", ["-t", "1", "-c", "4", "-m", "8", "-D", seconds.ToString(CultureInfo.InvariantCulture), h2c], deadline, cancellation),
            Echo("TCP echo (echo_load ping-pong, 16 connections)", server.EchoPort, seconds, deadline, cancellation),
            WebSockets("WebSocket echo (4 ClientWebSockets, 1 KiB messages)", server.HttpPort, seconds, cancellation),
        ];
        LoadOutcome[] outcomes = await Task.WhenAll(loads);
        double loadSeconds = clock.Elapsed.TotalSeconds;
        await Task.Delay(TimeSpan.FromSeconds(SettleSeconds), cancellation);
        await loadDone.CancelAsync();
        await sampler;
        Point after = Sample(server, clock.Elapsed.TotalSeconds);
        server.EnsureRunning();

        string stamp = started.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
        string markdown = Markdown(configuration, minutes, started, baseline, points, after, loadSeconds, outcomes, stamp);
        Console.WriteLine(markdown);
        Directory.CreateDirectory("perf/results");
        await File.WriteAllTextAsync($"perf/results/soak-{stamp}.md", markdown, cancellation);
        await File.WriteAllTextAsync($"perf/results/soak-{stamp}.svg", Chart(points, loadSeconds, $"Soak {stamp}: {configuration.Name}, {minutes} min"), cancellation);
        Console.Error.WriteLine($"Wrote perf/results/soak-{stamp}.md and .svg.");
        return outcomes.All(o => o.Errors == 0) ? 0 : 1;
    }

    private static Point Sample(DemoServerProcess server, double seconds)
    {
        (int descriptors, int sockets) = server.OpenDescriptors();
        return new Point(seconds, server.ResidentKiB(), descriptors, sockets, server.ThreadCount());
    }

    /// <summary>Least-squares slope of RSS in KiB per minute over the points after the warm-up.</summary>
    internal static double RssSlopeKiBPerMinute(IReadOnlyList<(double Seconds, long RssKiB)> points)
    {
        int n = points.Count;
        if (n < 2)
        {
            return double.NaN;
        }
        double meanX = points.Average(p => p.Seconds), meanY = points.Average(p => (double)p.RssKiB);
        double covariance = points.Sum(p => (p.Seconds - meanX) * (p.RssKiB - meanY));
        double variance = points.Sum(p => (p.Seconds - meanX) * (p.Seconds - meanX));
        return variance == 0 ? double.NaN : covariance / variance * 60;
    }

    /// <summary>The warm-up left out of the slope: a fifth of the run, at least a minute (JIT, pools and GC budgets settle).</summary>
    internal static double WarmupSeconds(double loadSeconds) => Math.Max(60, loadSeconds / 5);

    private static string Markdown(ServerConfiguration configuration, int minutes, DateTime started, Point baseline, List<Point> points, Point after,
        double loadSeconds, LoadOutcome[] outcomes, string stamp)
    {
        double warmup = WarmupSeconds(loadSeconds);
        Point[] steady = points.Where(p => p.Seconds >= warmup && p.Seconds <= loadSeconds).ToArray();
        double slope = RssSlopeKiBPerMinute(steady.Select(p => (p.Seconds, p.RssKiB)).ToArray());
        Point[] loaded = points.Where(p => p.Seconds <= loadSeconds).ToArray();
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"# Soak {stamp}: {configuration.Name}, {minutes} min of mixed load");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"Started {started:yyyy-MM-dd HH:mm} UTC; {Environment.ProcessorCount} cores; DemoWeb and every load client on the same machine, unpinned. A sample every {SampleSeconds} s; the slope leaves out the first {warmup:F0} s; \"after\" is {SettleSeconds} s after the load stopped.");
        text.AppendLine();
        text.AppendLine("| load | figure | errors | note |");
        text.AppendLine("|---|---|---|---|");
        foreach (LoadOutcome o in outcomes)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"| {o.Name} | {o.Figure} | {o.Errors} | {o.Note ?? ""} |");
        }
        text.AppendLine();
        text.AppendLine("| server | before the load | under load: min / max | after the load | back to baseline |");
        text.AppendLine("|---|---|---|---|---|");
        text.AppendLine(CultureInfo.InvariantCulture, $"| RSS | {baseline.RssKiB / 1024.0:F1} MiB | {loaded.Min(p => p.RssKiB) / 1024.0:F1} / {loaded.Max(p => p.RssKiB) / 1024.0:F1} MiB | {after.RssKiB / 1024.0:F1} MiB | (memory is kept by the GC and pools; see the slope) |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| open sockets | {baseline.Sockets} | {loaded.Min(p => p.Sockets)} / {loaded.Max(p => p.Sockets)} | {after.Sockets} | {(after.Sockets <= baseline.Sockets ? "yes" : "**no**")} |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| open descriptors, all kinds | {baseline.Descriptors} | {loaded.Min(p => p.Descriptors)} / {loaded.Max(p => p.Descriptors)} | {after.Descriptors} | {after.Descriptors - after.Sockets - (baseline.Descriptors - baseline.Sockets):+0;-0;0} besides sockets (the runtime keeps each assembly it loads open) |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| threads | {baseline.Threads} | {loaded.Min(p => p.Threads)} / {loaded.Max(p => p.Threads)} | {after.Threads} | {(after.Threads <= baseline.Threads + 4 ? "yes" : "**no**")} (the thread pool keeps a few warm) |");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"RSS slope after the warm-up: **{slope:F1} KiB/min** over {steady.Length} samples ({steady.FirstOrDefault()?.RssKiB / 1024.0:F1} MiB at {warmup:F0} s, {steady.LastOrDefault()?.RssKiB / 1024.0:F1} MiB at the end of the load).");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"![soak chart](soak-{stamp}.svg)");
        return text.ToString();
    }

    private static async Task<LoadOutcome> Wrk(string name, string[] arguments, TimeSpan deadline, CancellationToken cancellation)
    {
        string output = await Processes.RunAsync("wrk", arguments, deadline, cancellation);
        double rps = Number(HttpLoadScenario.WrkRps().Match(output));
        long non2xx = HttpLoadScenario.WrkNon2xx().Match(output) is { Success: true } bad ? long.Parse(bad.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
        Match socket = WrkSocketErrorCounts().Match(output);
        long socketErrors = socket.Success ? Enumerable.Range(1, 4).Sum(i => long.Parse(socket.Groups[i].Value, CultureInfo.InvariantCulture)) : 0;
        return new LoadOutcome(name, string.Create(CultureInfo.InvariantCulture, $"{rps:N0} req/s"), non2xx + socketErrors,
            socket.Success ? socket.Value.Trim() : null);
    }

    private static async Task<LoadOutcome> H2load(string name, string[] arguments, TimeSpan deadline, CancellationToken cancellation)
    {
        string output = await Processes.RunAsync("h2load", arguments, deadline, cancellation);
        double rps = Number(HttpLoadScenario.H2loadRps().Match(output));
        // Groups: succeeded, failed, errored.
        Match requests = HttpLoadScenario.H2loadRequests().Match(output);
        long errors = requests.Success ? long.Parse(requests.Groups[2].Value, CultureInfo.InvariantCulture) + long.Parse(requests.Groups[3].Value, CultureInfo.InvariantCulture) : -1;
        return new LoadOutcome(name, string.Create(CultureInfo.InvariantCulture, $"{rps:N0} req/s"), errors, requests.Success ? null : "no request summary");
    }

    private static async Task<LoadOutcome> Echo(string name, int port, int seconds, TimeSpan deadline, CancellationToken cancellation)
    {
        try
        {
            Dictionary<string, double> summary = await EchoClient.RunAsync(port, "pingpong", 16, seconds, 1, deadline, cancellation);
            return new LoadOutcome(name, string.Create(CultureInfo.InvariantCulture, $"{summary["msgs_per_sec"]:N0} msg/s"), (long)summary.GetValueOrDefault("errors"), null);
        }
        catch (InvalidOperationException e)
        {
            return new LoadOutcome(name, "failed", 1, e.Message.ReplaceLineEndings(" "));
        }
    }

    private static async Task<LoadOutcome> WebSockets(string name, int port, int seconds, CancellationToken cancellation)
    {
        long messages = 0, errors = 0;
        string? note = null;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        stop.CancelAfter(TimeSpan.FromSeconds(seconds));
        await Task.WhenAll(Enumerable.Range(0, 4).Select(async index =>
        {
            byte[] sent = new byte[1024], received = new byte[1024];
            var random = new Random(index);
            try
            {
                using var socket = new ClientWebSocket();
                await socket.ConnectAsync(new Uri(string.Create(CultureInfo.InvariantCulture, $"ws://127.0.0.1:{port}/ws")), cancellation);
                while (!stop.IsCancellationRequested)
                {
                    random.NextBytes(sent);
                    await socket.SendAsync(sent, WebSocketMessageType.Binary, endOfMessage: true, cancellation);
                    int got = 0;
                    while (got < sent.Length)
                    {
                        ValueWebSocketReceiveResult result = await socket.ReceiveAsync(received.AsMemory(got), cancellation);
                        got += result.Count;
                        if (result.MessageType == WebSocketMessageType.Close)
                        {
                            throw new InvalidOperationException("the server closed the WebSocket");
                        }
                    }
                    if (!sent.AsSpan().SequenceEqual(received))
                    {
                        Interlocked.Increment(ref errors);
                        note = "an echoed message differed";
                    }
                    Interlocked.Increment(ref messages);
                    // A steady trickle, not a CPU race with the other loads.
                    await Task.Delay(2, cancellation);
                }
                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "soak over", cancellation);
            }
            catch (Exception e) when (e is WebSocketException or InvalidOperationException or IOException)
            {
                Interlocked.Increment(ref errors);
                note = e.Message;
            }
        }));
        return new LoadOutcome(name, string.Create(CultureInfo.InvariantCulture, $"{messages / (double)seconds:N0} msg/s"), errors, note);
    }

    private static string Chart(List<Point> points, double loadSeconds, string title)
    {
        const int Width = 900, Height = 420, Left = 60, Right = 20, Top = 40, Bottom = 50;
        double maxX = Math.Max(1, points.Max(p => p.Seconds));
        var svg = new StringBuilder();
        svg.AppendLine(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" font-family=\"sans-serif\" font-size=\"12\">");
        svg.AppendLine(CultureInfo.InvariantCulture, $"<rect width=\"{Width}\" height=\"{Height}\" fill=\"white\"/><text x=\"{Left}\" y=\"22\" font-size=\"15\">{System.Security.SecurityElement.Escape(title)}</text>");
        double X(double seconds) => Left + (Width - Left - Right) * seconds / maxX;
        svg.AppendLine(CultureInfo.InvariantCulture, $"<line x1=\"{X(loadSeconds):F1}\" y1=\"{Top}\" x2=\"{X(loadSeconds):F1}\" y2=\"{Height - Bottom}\" stroke=\"#999\" stroke-dasharray=\"4 4\"/><text x=\"{X(loadSeconds) + 4:F1}\" y=\"{Top + 12}\" fill=\"#666\">load stops</text>");
        (string Name, string Colour, Func<Point, double> Value, string Unit)[] series =
        [
            ("RSS", "#1f77b4", p => p.RssKiB / 1024.0, "MiB"),
            ("open sockets", "#d62728", p => p.Sockets, ""),
            ("threads", "#2ca02c", p => p.Threads, ""),
        ];
        int legend = 0;
        foreach (var (seriesName, colour, value, unit) in series)
        {
            // Each series on its own scale (0 to its maximum), labelled in the legend.
            double max = Math.Max(1, points.Max(value));
            string line = string.Join(' ', points.Select(p => string.Create(CultureInfo.InvariantCulture, $"{X(p.Seconds):F1},{Height - Bottom - (Height - Top - Bottom) * value(p) / max:F1}")));
            svg.AppendLine(CultureInfo.InvariantCulture, $"<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{line}\"/>");
            svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{Left + legend * 260}\" y=\"{Height - 12}\" fill=\"{colour}\">{seriesName}: max {max:F0} {unit} (top of the chart)</text>");
            legend++;
        }
        svg.AppendLine(CultureInfo.InvariantCulture, $"<line x1=\"{Left}\" y1=\"{Height - Bottom}\" x2=\"{Width - Right}\" y2=\"{Height - Bottom}\" stroke=\"black\"/><text x=\"{Width - Right - 80}\" y=\"{Height - Bottom + 16}\">{maxX / 60:F1} min</text>");
        svg.AppendLine("</svg>");
        return svg.ToString();
    }

    private static double Number(Match match) =>
        match.Success ? double.Parse(match.Groups[1].Value, NumberStyles.Float, CultureInfo.InvariantCulture) : double.NaN;

    [GeneratedRegex(@"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")]
    private static partial Regex WrkSocketErrorCounts();
}
