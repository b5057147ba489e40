using System.Collections.Concurrent;
using EpollTransport.Frameworks.Tests.Infrastructure;
using Microsoft.AspNetCore.Http.Connections.Features;
using Microsoft.AspNetCore.SignalR;

namespace EpollTransport.Frameworks.Tests.RealTime;

/// <summary>What the hub saw: which connections connected and which disconnected (with the error, if any).</summary>
public sealed class HubProbe
{
    private readonly ConcurrentDictionary<string, TaskCompletionSource<Exception?>> _disconnected = new();

    public int Connected => _connected;

    private int _connected;

    public void OnConnected() => Interlocked.Increment(ref _connected);

    public void OnDisconnected(string connectionId, Exception? exception) => Disconnection(connectionId).TrySetResult(exception);

    /// <summary>Completes when the hub's OnDisconnectedAsync has run for <paramref name="connectionId"/>.</summary>
    public Task<Exception?> WhenDisconnected(string connectionId) => Disconnection(connectionId).Task;

    public bool HasDisconnected(string connectionId) => Disconnection(connectionId).Task.IsCompleted;

    private TaskCompletionSource<Exception?> Disconnection(string connectionId)
        => _disconnected.GetOrAdd(connectionId, _ => new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously));
}

public sealed class ChatHub(HubProbe probe) : Hub
{
    /// <summary>Sends message i back to its sender only.</summary>
    public Task Echo(int index, string text) => Clients.Caller.SendAsync("Echoed", index, text);

    /// <summary>Pushes <paramref name="count"/> messages to the caller as fast as the transport takes them.</summary>
    public async Task Burst(int count, int maxLength)
    {
        for (int i = 0; i < count; i++)
        {
            await Clients.Caller.SendAsync("Burst", i, TestPayloads.Text(i, maxLength));
        }
    }

    /// <summary>The transport the server is really using for this connection.</summary>
    public string Transport() => Context.Features.Get<IHttpTransportFeature>()?.TransportType.ToString() ?? "none";

    public Task Join(string group) => Groups.AddToGroupAsync(Context.ConnectionId, group);

    public Task Leave(string group) => Groups.RemoveFromGroupAsync(Context.ConnectionId, group);

    public Task ToGroup(string group, string text) => Clients.Group(group).SendAsync("Group", text);

    public Task ToAll(string text) => Clients.All.SendAsync("All", text);

    public override Task OnConnectedAsync()
    {
        probe.OnConnected();
        return base.OnConnectedAsync();
    }

    public override Task OnDisconnectedAsync(Exception? exception)
    {
        probe.OnDisconnected(Context.ConnectionId, exception);
        return base.OnDisconnectedAsync(exception);
    }
}
