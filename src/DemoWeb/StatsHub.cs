using Microsoft.AspNetCore.SignalR;

namespace DemoWeb;

/// <summary>
/// The dashboard's live feed: <see cref="StatsBroadcaster"/> pushes a "stats" message with the same
/// <see cref="StatsSnapshot"/> /stats returns, once a second, to every connected client.
/// </summary>
public sealed class StatsHub(StatsHubClients clients, TransportStatistics statistics, DemoSettings settings) : Hub
{
    public const string Path = "/hubs/stats";
    public const string Method = "stats";

    public override async Task OnConnectedAsync()
    {
        // A first snapshot straight away, so a new page does not wait up to a second for its numbers.
        await Clients.Caller.SendAsync(Method, statistics.Collect(settings.Transport), Context.ConnectionAborted);
        await base.OnConnectedAsync();
        // Counted last: SignalR calls OnDisconnectedAsync only for connections whose OnConnectedAsync succeeded.
        clients.Connected();
    }

    public override Task OnDisconnectedAsync(Exception? exception)
    {
        clients.Disconnected();
        return base.OnDisconnectedAsync(exception);
    }
}

/// <summary>How many clients the hub has, so the broadcaster only collects and sends while someone listens.</summary>
public sealed class StatsHubClients
{
    private int _count;

    public int Count => Volatile.Read(ref _count);

    public void Connected() => Interlocked.Increment(ref _count);

    public void Disconnected() => Interlocked.Decrement(ref _count);
}

/// <summary>Sends every hub client a snapshot once a second (while there are clients).</summary>
public sealed class StatsBroadcaster(IHubContext<StatsHub> hub, StatsHubClients clients, TransportStatistics statistics, DemoSettings settings)
    : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                if (clients.Count > 0)
                {
                    await hub.Clients.All.SendAsync(StatsHub.Method, statistics.Collect(settings.Transport), stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down.
        }
    }
}
