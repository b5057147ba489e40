using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace DemoWeb.Tests;

/// <summary>
/// The dashboard in a real headless Chromium, loaded once: while the test makes traffic, the numbers the
/// page renders from /stats follow it, without a reload.
/// </summary>
public class DashboardBrowserTests
{
    private const int HeldConnections = 5;
    private const int EchoBytes = 256 * 1024;

    /// <summary>Chromium opens at most six connections to one host, so its own traffic adds no more accepts than that.</summary>
    private const int BrowserConnections = 6;

    private static readonly TimeSpan UpdateTimeout = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task DashboardNumbersFollowTheTrafficWithoutReloading()
    {
        await using var server = await DemoServer.StartAsync("--threads", "2");
        await using var page = await ChromiumPage.OpenAsync(Tools.Require("chromium"), server.Http);

        DashboardView before = await WaitForAsync(page, v => v.Loops.Count == 2 && v.Totals.Values.All(t => t is not null), "the first update");
        Assert.Contains("transport: epoll — 2 epoll loops — ", before.Status);
        // The hub is on by default, so the numbers below arrive pushed over SignalR, not polled.
        before = await WaitForAsync(page, v => v.Updates == "signalr", "updates over SignalR");
        Assert.Contains("live over SignalR", before.Status);
        await page.EvaluateAsync(DashboardView.MarkScript);

        // Traffic the page must account for: held-open keep-alive connections, and a known number of bytes each way.
        List<Socket> held = await OpenKeepAliveConnectionsAsync(server, HeldConnections);
        try
        {
            await EchoAsync(server, EchoBytes);

            DashboardView during = await WaitForAsync(page, v =>
                v.Total("connections-accepted") >= before.Total("connections-accepted") + HeldConnections + 1
                && v.Total("connections-current") >= before.Total("connections-current") + HeldConnections
                && v.Total("bytes-received") >= before.Total("bytes-received") + EchoBytes
                && v.Total("bytes-sent") >= before.Total("bytes-sent") + EchoBytes, "the traffic to show");

            Assert.True(during.Marked, "The page was reloaded; it should update in place.");
            Assert.Equal("signalr", during.Updates);
            long accepted = during.Total("connections-accepted") - before.Total("connections-accepted");
            Assert.InRange(accepted, HeldConnections + 1, HeldConnections + 1 + BrowserConnections);
            foreach (string counter in new[] { "reads", "writes", "epoll-wakeups" })
            {
                Assert.True(during.Total(counter) > before.Total(counter), $"{counter} did not grow: {before} → {during}");
            }
            AssertRowsAddUpToTotals(during);
        }
        finally
        {
            held.ForEach(socket => socket.Dispose());
        }

        // Closed on our side, the connections leave the server's count, and the page follows it back down.
        DashboardView after = await WaitForAsync(page, v => v.Total("connections-current") <= before.Total("connections-current"), "the closed connections to go");
        Assert.True(after.Marked, "The page was reloaded; it should update in place.");
    }

    [Fact]
    public async Task WithoutTheHubTheDashboardPollsStatsAndStillFollowsTheTraffic()
    {
        await using var server = await DemoServer.StartAsync("--threads", "2", "--dashboard-hub", "false");
        await using var page = await ChromiumPage.OpenAsync(Tools.Require("chromium"), server.Http);

        DashboardView before = await WaitForAsync(page, v => v.Loops.Count == 2 && v.Totals.Values.All(t => t is not null), "the first update");
        Assert.Equal("polling", before.Updates);
        Assert.Contains("polling /stats", before.Status);
        await page.EvaluateAsync(DashboardView.MarkScript);

        List<Socket> held = await OpenKeepAliveConnectionsAsync(server, HeldConnections);
        try
        {
            await EchoAsync(server, EchoBytes);

            DashboardView during = await WaitForAsync(page, v =>
                v.Total("connections-current") >= before.Total("connections-current") + HeldConnections
                && v.Total("bytes-received") >= before.Total("bytes-received") + EchoBytes
                && v.Total("bytes-sent") >= before.Total("bytes-sent") + EchoBytes, "the traffic to show");

            Assert.True(during.Marked, "The page was reloaded; it should update in place.");
            // It keeps trying the hub in the background, and keeps polling while the hub stays away.
            Assert.Equal("polling", during.Updates);
            AssertRowsAddUpToTotals(during);
        }
        finally
        {
            held.ForEach(socket => socket.Dispose());
        }
    }

    [Fact]
    public async Task WhenTheHubDropsThePagePollsUntilItCanReconnect()
    {
        var hubClients = new HubConnections();
        await using var server = await DemoServer.StartAsync(
            builder => builder.Services.AddSignalR(options => options.AddFilter(hubClients)), "--threads", "2");
        await using var page = await ChromiumPage.OpenAsync(Tools.Require("chromium"), server.Http);

        await WaitForAsync(page, v => v.Updates == "signalr" && v.Totals.Values.All(t => t is not null), "updates over SignalR");
        await page.EvaluateAsync(DashboardView.MarkScript);

        // The server ends the page's hub connection, as a restart or a proxy's idle timeout would.
        hubClients.AbortAll();
        // The page switches its mode at once and rewrites the status line only when the first poll
        // answers, so the wait is for both: the status line is what a person reads.
        DashboardView polling = await WaitForAsync(page, v => v.Updates == "polling" && v.Status.Contains("polling /stats", StringComparison.Ordinal), "the fallback to polling");
        Assert.True(polling.Totals.Values.All(t => t is not null), $"The page lost its numbers: {polling}");

        // Still live while polling: traffic shows up without the hub (the page retries it only after 10 s).
        await EchoAsync(server, EchoBytes);
        DashboardView during = await WaitForAsync(page, v => v.Total("bytes-received") >= polling.Total("bytes-received") + EchoBytes, "the traffic to show");
        Assert.True(during.Marked, "The page was reloaded; it should update in place.");

        // The hub is still there, so the page goes back to it.
        DashboardView back = await WaitForAsync(page, v => v.Updates == "signalr" && v.Status.Contains("live over SignalR", StringComparison.Ordinal), "the page to reconnect to the hub");
        Assert.True(back.Marked, "The page was reloaded; it should reconnect in place.");
        Assert.True(hubClients.Count >= 2, $"The page connected to the hub {hubClients.Count} time(s).");
    }

    [Fact]
    public async Task ChartsDrawEveryLoopsHistoryAndFollowTheTrafficUpAndDown()
    {
        await using var server = await DemoServer.StartAsync("--threads", "2");
        await using var page = await ChromiumPage.OpenAsync(Tools.Require("chromium"), server.Http);

        // Two samples make the first rates; the page's own polling is all the traffic so far.
        DashboardChartsView quiet = await WaitForChartsAsync(page, v => v.Charts.Count == 3 && v.Charts.Values.All(c => c.Points >= 2 && c.Lines.Count == 2), "two samples in three charts");
        await page.EvaluateAsync(DashboardView.MarkScript);
        double quietBytes = quiet["chart-bytes"].Max;

        // Load for a few seconds: held keep-alive connections, and echoed bodies of a known size.
        List<Socket> held = await OpenKeepAliveConnectionsAsync(server, HeldConnections);
        DashboardChartsView busy;
        try
        {
            using var stop = new CancellationTokenSource();
            Task load = Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    await EchoAsync(server, EchoBytes);
                }
            });
            try
            {
                busy = await WaitForChartsAsync(page, v =>
                    v["chart-bytes"].Max >= Math.Max(4 * quietBytes, EchoBytes)   // at least one 256 KiB echo a second, both ways
                    && v["chart-requests"].Max > quiet["chart-requests"].Max
                    && v["chart-connections"].Last >= quiet["chart-connections"].Last + HeldConnections, "the load to show");
            }
            finally
            {
                stop.Cancel();
                await load;
            }
        }
        finally
        {
            held.ForEach(socket => socket.Dispose());
        }

        Assert.True(busy.Marked, "The page was reloaded; it should draw in place.");
        Assert.All(busy.Charts.Values, chart => Assert.Equal([0, 1], chart.Lines.Select(l => l.Loop).Order()));
        Assert.All(busy.Charts.Values, chart => Assert.All(chart.Lines, line => Assert.Equal(chart.Points, line.Vertices)));
        Assert.True(busy["chart-bytes"].Points > quiet["chart-bytes"].Points, $"No samples were added: {quiet} → {busy}");

        // Load gone: the lines come back down while the peak stays in the window.
        DashboardChartsView after = await WaitForChartsAsync(page, v =>
            v["chart-bytes"].Last < busy["chart-bytes"].Max / 10
            && v["chart-connections"].Last <= quiet["chart-connections"].Last, "the lines to fall after the load");
        Assert.True(after["chart-bytes"].Max >= busy["chart-bytes"].Max, "The peak left the three-minute window too early.");
        Assert.True(after.Marked, "The page was reloaded; it should draw in place.");
    }

    /// <summary>
    /// One loop reads "1 epoll loop", and the page has an icon of its own: without one the browser asks for
    /// /favicon.ico, and its console shows the 404.
    /// </summary>
    [Fact]
    public async Task WithOneLoopTheStatusSaysLoopAndThePagesIconLoadsWithoutA404()
    {
        var answers = new ConcurrentQueue<string>();
        await using var server = await DemoServer.StartAsync(
            builder => builder.Services.AddSingleton<IStartupFilter>(new RecordAnswers(answers)), "--threads", "1");
        await using var page = await ChromiumPage.OpenAsync(Tools.Require("chromium"), server.Http);

        DashboardView view = await WaitForAsync(page, v => v.Loops.Count == 1 && v.Totals.Values.All(t => t is not null), "the first update");
        Assert.Contains("transport: epoll — 1 epoll loop — ", view.Status);

        // The icon the page declares, fetched the way the page fetches anything: found, and an image.
        JsonElement icon = await page.EvaluateAsync("""
            (async () => {
              const link = document.querySelector("link[rel~='icon']");
              if (!link) return { href: "", status: 0, type: "" };
              const response = await fetch(link.href);
              return { href: link.href, status: response.status, type: response.headers.get("content-type") || "" };
            })()
            """, awaitPromise: true);
        Assert.True(icon.GetProperty("href").GetString() is { Length: > 0 }, "The page declares no icon.");
        Assert.Equal(200, icon.GetProperty("status").GetInt32());
        Assert.StartsWith("image/", icon.GetProperty("type").GetString());
        // Nothing the browser asked for on its own (the page, its scripts, the icon, the hub) was missing.
        Assert.DoesNotContain(answers, a => a.StartsWith("404 ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task OverSocketsTheDashboardSaysThereAreNoEpollCounters()
    {
        await using var server = await DemoServer.StartAsync("--transport", "sockets");
        await using var page = await ChromiumPage.OpenAsync(Tools.Require("chromium"), server.Http);

        DashboardView view = await WaitForAsync(page, v => v.Status.Contains("transport: sockets", StringComparison.Ordinal), "the first update");

        Assert.Contains("no epoll counters", view.Status);
        Assert.Empty(view.Loops);
        Assert.Empty(DashboardChartsView.Parse(await page.EvaluateAsync(DashboardChartsView.Script)).Charts);
    }

    /// <summary>
    /// Polls the page until it shows what the condition wants: the page updates on its own timer and
    /// announces nothing, so polling with a deadline is the only way to observe it.
    /// </summary>
    private static async Task<DashboardView> WaitForAsync(ChromiumPage page, Func<DashboardView, bool> condition, string what)
    {
        using var deadline = new CancellationTokenSource(UpdateTimeout);
        DashboardView? last = null;
        while (!deadline.IsCancellationRequested)
        {
            last = DashboardView.Parse(await page.EvaluateAsync(DashboardView.Script));
            if (IsMet(condition, last))
            {
                return last;
            }
            await Task.Delay(200, CancellationToken.None);
        }
        throw new TimeoutException($"The dashboard did not show {what} within {UpdateTimeout}; it last showed {last}.");
    }

    /// <summary>The charts' counterpart of <see cref="WaitForAsync"/>.</summary>
    private static async Task<DashboardChartsView> WaitForChartsAsync(ChromiumPage page, Func<DashboardChartsView, bool> condition, string what)
    {
        using var deadline = new CancellationTokenSource(UpdateTimeout);
        DashboardChartsView? last = null;
        while (!deadline.IsCancellationRequested)
        {
            last = DashboardChartsView.Parse(await page.EvaluateAsync(DashboardChartsView.Script));
            if (IsMet(condition, last))
            {
                return last;
            }
            await Task.Delay(200, CancellationToken.None);
        }
        throw new TimeoutException($"The dashboard's charts did not show {what} within {UpdateTimeout}; they last showed {last}.");
    }

    /// <summary>A view still showing placeholders (or no chart yet) simply does not meet the condition yet.</summary>
    private static bool IsMet<TView>(Func<TView, bool> condition, TView view)
    {
        try
        {
            return condition(view);
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>Records "STATUS PATH" for every request the server answers.</summary>
    private sealed class RecordAnswers(ConcurrentQueue<string> answers) : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use(async (context, nextMiddleware) =>
            {
                await nextMiddleware(context);
                answers.Enqueue($"{context.Response.StatusCode} {context.Request.Path}");
            });
            next(app);
        };
    }

    /// <summary>Remembers every hub connection, so a test can end them from the server side.</summary>
    private sealed class HubConnections : IHubFilter
    {
        private readonly ConcurrentQueue<HubCallerContext> _connections = new();

        public int Count => _connections.Count;

        public Task OnConnectedAsync(HubLifetimeContext context, Func<HubLifetimeContext, Task> next)
        {
            _connections.Enqueue(context.Context);
            return next(context);
        }

        public void AbortAll()
        {
            Assert.False(_connections.IsEmpty, "No client connected to the hub.");
            foreach (HubCallerContext connection in _connections)
            {
                connection.Abort();
            }
        }
    }

    private static void AssertRowsAddUpToTotals(DashboardView view)
    {
        for (int column = 0; column < DashboardView.Columns.Length; column++)
        {
            string name = DashboardView.Columns[column];
            // Column 0 of a row is the loop number; the counters follow in page order.
            Assert.Equal(view.Total(name), view.Loops.Sum(row => row[column + 1]));
        }
    }

    private static async Task<List<Socket>> OpenKeepAliveConnectionsAsync(DemoServer server, int count)
    {
        var sockets = new List<Socket>();
        for (int i = 0; i < count; i++)
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
            sockets.Add(socket);
            await socket.ConnectAsync(IPAddress.Loopback, server.Http.Port);
            await socket.SendAsync("GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
            // Reading the whole response proves the server has the connection, so the page must count it.
            var response = new StringBuilder();
            var buffer = new byte[1024];
            while (!response.ToString().EndsWith("Hello, World!", StringComparison.Ordinal))
            {
                int n = await socket.ReceiveAsync(buffer.AsMemory()).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
                Assert.True(n > 0, "The server closed a keep-alive connection.");
                response.Append(Encoding.ASCII.GetString(buffer, 0, n));
            }
        }
        return sockets;
    }

    private static async Task EchoAsync(DemoServer server, int size)
    {
        byte[] body = RandomNumberGenerator.GetBytes(size);
        using var client = server.CreateClient(server.Http);
        using var response = await client.PostAsync("/echo", new ByteArrayContent(body));
        Assert.Equal(body, await response.Content.ReadAsByteArrayAsync());
    }
}
