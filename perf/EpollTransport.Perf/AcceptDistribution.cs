using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace EpollTransport.Perf;

/// <summary>
/// Connection churn against the bare transport: how fast new connections are accepted and how evenly
/// the loops share them, for the shared EPOLLEXCLUSIVE listener (default) and per-loop SO_REUSEPORT
/// listeners. Alternates the two layouts (A B A B A B) and prints medians.
/// </summary>
internal static class AcceptDistribution
{
    public static async Task RunAsync(int seconds, int concurrency)
    {
        const int Rounds = 3;
        var results = new Dictionary<string, List<(double Rate, string Spread)>> { ["shared EPOLLEXCLUSIVE"] = new(), ["SO_REUSEPORT per loop"] = new() };
        for (int round = 0; round < Rounds; round++)
        {
            foreach (var (name, reusePort) in new[] { ("shared EPOLLEXCLUSIVE", false), ("SO_REUSEPORT per loop", true) })
            {
                var result = await MeasureAsync(reusePort, seconds, concurrency);
                results[name].Add(result);
                Console.Error.WriteLine($"round {round + 1} {name,-22} {result.Rate,10:F0} conn/s  loops: {result.Spread}");
            }
        }

        Console.WriteLine(Report.TableHeader($"accept layout ({Environment.ProcessorCount} loops, {concurrency} clients)", "median connections/s", "accepted per loop (last round)"));
        foreach (var (name, list) in results)
        {
            var median = list.Select(r => r.Rate).Order().ElementAt(list.Count / 2);
            Console.WriteLine($"| {name} | {median.ToString("F0", CultureInfo.InvariantCulture)} | {list[^1].Spread} |");
        }
    }

    private static async Task<(double Rate, string Spread)> MeasureAsync(bool reusePort, int seconds, int concurrency)
    {
        var options = new EpollTransportOptions { ThreadCount = Math.Max(2, Environment.ProcessorCount), ReusePort = reusePort };
        using var factory = new EpollTransportFactory(Options.Create(options), NullLoggerFactory.Instance);
        IConnectionListener listener = await factory.BindAsync(new IPEndPoint(IPAddress.Loopback, 0));
        var endPoint = (IPEndPoint)listener.EndPoint;
        using var stop = new CancellationTokenSource();
        Task server = ServeAsync(listener, stop.Token);

        long connections = 0;
        var clock = Stopwatch.StartNew();
        var deadline = TimeSpan.FromSeconds(seconds);
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            var reply = new byte[1];
            while (clock.Elapsed < deadline)
            {
                using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await socket.ConnectAsync(endPoint);
                await socket.SendAsync(new byte[] { 42 });
                if (await socket.ReceiveAsync(reply) != 1 || reply[0] != 42)
                {
                    throw new InvalidOperationException("Echo mismatch.");
                }
                socket.LingerState = new LingerOption(true, 0);
                Interlocked.Increment(ref connections);
            }
        }));
        double rate = connections / clock.Elapsed.TotalSeconds;
        string spread = string.Join(" / ", factory.GetLoopCounters().Select(c => c.ConnectionsAccepted));

        await listener.UnbindAsync();
        stop.Cancel();
        await server;
        await listener.DisposeAsync();
        return (rate, spread);
    }

    private static async Task ServeAsync(IConnectionListener listener, CancellationToken stop)
    {
        var running = new List<Task>();
        while (await listener.AcceptAsync() is { } connection)
        {
            running.Add(EchoOneByteAsync(connection));
        }
        await Task.WhenAll(running);
    }

    private static async Task EchoOneByteAsync(ConnectionContext connection)
    {
        try
        {
            var result = await connection.Transport.Input.ReadAsync();
            if (!result.Buffer.IsEmpty)
            {
                await connection.Transport.Output.WriteAsync(result.Buffer.First[..1]);
            }
            connection.Transport.Input.AdvanceTo(result.Buffer.End);
        }
        catch (Exception)
        {
            // A client that resets early is part of churn.
        }
        await connection.DisposeAsync();
    }
}
