using System.Diagnostics;
using System.Net;
using EpollTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Xunit;

namespace EpollTransport.Tests.Hostile;

/// <summary>Counts the connections the server has open, through connection middleware (so the same for every transport).</summary>
public sealed class OpenConnections
{
    private int _count;

    public int Count => Volatile.Read(ref _count);

    public void Attach(ListenOptions listen) => listen.Use(next => async context =>
    {
        Interlocked.Increment(ref _count);
        try
        {
            await next(context);
        }
        finally
        {
            Interlocked.Decrement(ref _count);
        }
    });
}

/// <summary>
/// A well-behaved client asking for "/" every 20 ms over keep-alive while hostile peers do their worst;
/// it proves the server kept serving everyone else quickly.
/// </summary>
public sealed class NormalClient : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly List<double> _latencies = [];
    private readonly Task _run;
    private Exception? _failure;

    private NormalClient(TestServer server)
    {
        _run = Task.Run(async () =>
        {
            using HttpClient client = server.CreateClient();
            client.Timeout = TimeSpan.FromSeconds(10);
            while (!_stop.IsCancellationRequested)
            {
                long started = Stopwatch.GetTimestamp();
                try
                {
                    Assert.Equal("ok", await client.GetStringAsync("/"));
                }
                catch (Exception e)
                {
                    _failure ??= e;
                    return;
                }
                lock (_latencies)
                {
                    _latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                }
                try
                {
                    await Task.Delay(20, _stop.Token);
                }
                catch (OperationCanceledException)
                {
                }
            }
        });
    }

    public static NormalClient Start(TestServer server) => new(server);

    /// <summary>Stops, then checks every request succeeded, the median stayed short and none was slow.</summary>
    public async Task<string> StopAndCheckAsync(int atLeast = 10, double slowestMilliseconds = 5000)
    {
        await _stop.CancelAsync();
        await _run.WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Null(_failure);
        double[] sorted;
        lock (_latencies)
        {
            sorted = [.. _latencies.Order()];
        }
        Assert.True(sorted.Length >= atLeast, $"the normal client got only {sorted.Length} answers");
        double median = sorted[sorted.Length / 2];
        // Generous bounds: the suite runs in parallel on two cores, next to floods of a thousand
        // connections. A client starved by a stalled loop or a spinning listener waits ten seconds.
        Assert.True(median < 200, $"median {median:F1} ms");
        Assert.True(sorted[^1] < slowestMilliseconds, $"slowest {sorted[^1]:F0} ms (bound {slowestMilliseconds} ms)");
        return $"normal client: {sorted.Length} requests, median {median:F1} ms, max {sorted[^1]:F1} ms";
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAny(_run, Task.Delay(TimeSpan.FromSeconds(15)));
        _stop.Dispose();
    }
}

internal static class HostileServer
{
    /// <summary>A server with "/" answering "ok", connection counting, and the given Kestrel limits.</summary>
    public static Task<TestServer> StartAsync(string transport, OpenConnections open, Action<WebApplication> map, Action<KestrelServerLimits>? limits = null)
        => TestServer.StartAsync(transport, app =>
        {
            app.MapGet("/", () => "ok");
            map(app);
        }, new TestServerOptions
        {
            ConfigureKestrel = kestrel =>
            {
                limits?.Invoke(kestrel.Limits);
                kestrel.Listen(IPAddress.Loopback, 0, open.Attach);
            },
        });
}
