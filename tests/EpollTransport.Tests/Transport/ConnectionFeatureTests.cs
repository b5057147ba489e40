using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Xunit;

namespace EpollTransport.Tests.Transport;

/// <summary>
/// The accepted connection's feature collection behaves like ASP.NET Core's own FeatureCollection:
/// the transport's features can be replaced and removed, others added and removed, and every change
/// moves <see cref="IFeatureCollection.Revision"/> (Kestrel's per-request collection caches by it).
/// </summary>
public class ConnectionFeatureTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private sealed class OtherItems : IConnectionItemsFeature
    {
        public IDictionary<object, object?> Items { get; set; } = new Dictionary<object, object?>();
    }

    [Fact]
    public async Task FeaturesCanBeReplacedAddedAndRemovedLikeAFeatureCollection()
    {
        await using var transport = new DirectFactory();
        IConnectionListener listener = await transport.BindLoopbackAsync();
        using Socket client = await DirectFactory.ConnectAsync(listener);
        ConnectionContext connection = (await listener.AcceptAsync().AsTask().WaitAsync(Timeout))!;
        IFeatureCollection features = connection.Features;

        Assert.False(features.IsReadOnly);
        Type[] transportFeatures =
        [
            typeof(IConnectionIdFeature), typeof(IConnectionTransportFeature), typeof(IConnectionItemsFeature),
            typeof(IMemoryPoolFeature), typeof(IConnectionLifetimeFeature), typeof(IConnectionEndPointFeature),
        ];
        Assert.Equal(transportFeatures.OrderBy(t => t.FullName), features.Select(pair => pair.Key).OrderBy(t => t.FullName));
        Assert.All(features, pair => Assert.Same(connection, pair.Value));
        Assert.Null(features.Get<IDisposable>());
        Assert.Null(features[typeof(ITlsHandshakeFeature)]);

        int revision = features.Revision;
        var items = new OtherItems();
        features.Set<IConnectionItemsFeature>(items);
        Assert.Same(items, features.Get<IConnectionItemsFeature>());
        Assert.Same(items, features[typeof(IConnectionItemsFeature)]);
        Assert.True(features.Revision > revision, "replacing a transport feature must change the revision");

        revision = features.Revision;
        features.Set<IConnectionEndPointFeature>(null);
        Assert.Null(features.Get<IConnectionEndPointFeature>());
        Assert.DoesNotContain(features, pair => pair.Key == typeof(IConnectionEndPointFeature));
        Assert.True(features.Revision > revision, "removing a transport feature must change the revision");

        revision = features.Revision;
        features[typeof(IDisposable)] = client;
        Assert.Same(client, features.Get<IDisposable>());
        Assert.Contains(features, pair => pair.Key == typeof(IDisposable) && ReferenceEquals(pair.Value, client));
        Assert.True(features.Revision > revision, "adding a feature must change the revision");

        revision = features.Revision;
        features.Set<IDisposable>(null);
        Assert.Null(features.Get<IDisposable>());
        Assert.Equal(5, features.Count());
        Assert.True(features.Revision > revision, "removing a feature must change the revision");

        Assert.Throws<ArgumentNullException>(() => features[null!]);
        Assert.Throws<ArgumentNullException>(() => features[null!] = client);

        await connection.DisposeAsync();
        await listener.UnbindAsync();
        await listener.DisposeAsync();
        await transport.MemoryPool.WhenAllReturnedAsync(Timeout);
    }
}
