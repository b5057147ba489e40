using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Xunit;

namespace EpollTransport.Tests.Transport;

/// <summary>What Kestrel expects of IConnectionListener, checked on the epoll listener directly.</summary>
public class ListenerContractTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task UnbindMakesAPendingAcceptReturnNullAndClosesThePort()
    {
        await using var transport = new DirectFactory();
        IConnectionListener listener = await transport.BindLoopbackAsync();
        var port = ((IPEndPoint)listener.EndPoint).Port;
        Assert.NotEqual(0, port);

        ValueTask<ConnectionContext?> pending = listener.AcceptAsync();
        Assert.False(pending.IsCompleted);
        await listener.UnbindAsync();

        Assert.Null(await pending.AsTask().WaitAsync(Timeout));
        Assert.Null(await listener.AcceptAsync().AsTask().WaitAsync(Timeout));
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var refused = await Assert.ThrowsAsync<SocketException>(async () => await client.ConnectAsync(IPAddress.Loopback, port));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
    }

    [Fact]
    public async Task AcceptedConnectionsCarryFeaturesEndPointsAndUniqueIds()
    {
        await using var transport = new DirectFactory();
        IConnectionListener listener = await transport.BindLoopbackAsync();
        var ids = new HashSet<string>();
        for (int i = 0; i < 50; i++)
        {
            using Socket client = await DirectFactory.ConnectAsync(listener);
            ConnectionContext connection = (await listener.AcceptAsync().AsTask().WaitAsync(Timeout))!;
            Assert.True(ids.Add(connection.ConnectionId), $"Duplicate connection id {connection.ConnectionId}");
            Assert.Equal(client.LocalEndPoint, connection.RemoteEndPoint);
            Assert.Equal(client.RemoteEndPoint, connection.LocalEndPoint);
            Assert.Same(connection, connection.Features.Get<Microsoft.AspNetCore.Connections.Features.IConnectionIdFeature>());
            Assert.NotNull(connection.Features.Get<Microsoft.AspNetCore.Connections.Features.IConnectionTransportFeature>());
            Assert.NotNull(connection.Features.Get<Microsoft.AspNetCore.Connections.Features.IConnectionItemsFeature>());
            Assert.NotNull(connection.Features.Get<Microsoft.AspNetCore.Connections.Features.IMemoryPoolFeature>()?.MemoryPool);
            Assert.NotNull(connection.Features.Get<Microsoft.AspNetCore.Connections.Features.IConnectionLifetimeFeature>());
            var endPoints = connection.Features.Get<Microsoft.AspNetCore.Connections.Features.IConnectionEndPointFeature>();
            Assert.Equal(connection.RemoteEndPoint, endPoints?.RemoteEndPoint);
            connection.Features.Set<IDisposable>(client); // the collection is writable
            Assert.Same(client, connection.Features.Get<IDisposable>());
            await connection.DisposeAsync();
        }
        await listener.UnbindAsync();
        await listener.DisposeAsync();
        await transport.MemoryPool.WhenAllReturnedAsync(Timeout);
    }

    [Fact]
    public async Task OneLoopServesSeveralListenersAndStopsWithTheLast()
    {
        await using var transport = new DirectFactory(o => o.ThreadCount = 1);
        IConnectionListener first = await transport.BindLoopbackAsync();
        IConnectionListener second = await transport.BindLoopbackAsync();
        Assert.Single(transport.Factory.GetLoopCounters());

        foreach (IConnectionListener listener in new[] { first, second })
        {
            using Socket client = await DirectFactory.ConnectAsync(listener);
            ConnectionContext connection = (await listener.AcceptAsync().AsTask().WaitAsync(Timeout))!;
            await client.SendAsync("ping"u8.ToArray());
            var read = await connection.Transport.Input.ReadAsync().AsTask().WaitAsync(Timeout);
            Assert.Equal("ping"u8.ToArray(), System.Buffers.BuffersExtensions.ToArray(read.Buffer));
            connection.Transport.Input.AdvanceTo(read.Buffer.End);
            await connection.DisposeAsync();
        }
        Assert.Equal(2, transport.Factory.GetLoopCounters().Sum(c => c.ConnectionsAccepted));

        await first.DisposeAsync();
        Assert.Single(transport.Factory.GetLoopCounters());
        await second.DisposeAsync();
        Assert.Empty(transport.Factory.GetLoopCounters());
    }

    [Fact]
    public async Task ASharedListenerDealsABurstOfConnectionsEvenlyOverTheLoops()
    {
        await using var transport = new DirectFactory(o => o.ThreadCount = 2);
        IConnectionListener listener = await transport.BindLoopbackAsync();
        var clients = await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => DirectFactory.ConnectAsync(listener)));
        var connections = new List<ConnectionContext>();
        for (int i = 0; i < clients.Length; i++)
        {
            connections.Add((await listener.AcceptAsync().AsTask().WaitAsync(Timeout))!);
        }

        // The woken loop accepts the whole burst, but owners are dealt round-robin. Each owner registers
        // its connection just after AcceptAsync handed it over, so the counters catch up a moment later.
        await Helpers.RawSockets.RawClient.WaitUntilAsync(
            () => transport.Factory.GetLoopCounters().Sum(c => c.ConnectionsAccepted) == clients.Length, Timeout,
            () => string.Join("; ", transport.Factory.GetLoopCounters()));
        var perLoop = transport.Factory.GetLoopCounters().Select(c => c.ConnectionsAccepted).ToArray();
        Assert.Equal([20L, 20L], perLoop);
        Assert.Equal([20L, 20L], transport.Factory.GetLoopCounters().Select(c => c.ConnectionsCurrent).ToArray());

        foreach (ConnectionContext connection in connections)
        {
            await connection.DisposeAsync();
        }
        foreach (var client in clients)
        {
            client.Dispose();
        }
    }
}
