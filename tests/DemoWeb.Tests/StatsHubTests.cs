using System.Net;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.AspNetCore.SignalR.Client;
using Xunit;

namespace DemoWeb.Tests;

/// <summary>The dashboard's SignalR hub, seen from the .NET client: snapshots pushed once a second, shaped like /stats.</summary>
public class StatsHubTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    [Theory]
    [InlineData("epoll")]
    [InlineData("sockets")]
    public async Task TheHubPushesSnapshotsWithIncreasingTimesShapedLikeStats(string transport)
    {
        await using var server = await DemoServer.StartAsync("--transport", transport);
        var received = Channel.CreateUnbounded<JsonElement>();
        await using HubConnection connection = new HubConnectionBuilder().WithUrl(new Uri(server.Http, "/hubs/stats")).Build();
        connection.On<JsonElement>("stats", snapshot => received.Writer.TryWrite(snapshot));
        using var deadline = new CancellationTokenSource(Timeout);

        await connection.StartAsync(deadline.Token);
        JsonElement first = await received.Reader.ReadAsync(deadline.Token);
        JsonElement second = await received.Reader.ReadAsync(deadline.Token);
        JsonElement third = await received.Reader.ReadAsync(deadline.Token);

        // The first comes on connecting; the later ones from the once-a-second broadcast, so time moves on.
        Assert.True(Time(second) > Time(first), $"{Time(first):O} then {Time(second):O}");
        Assert.True(Time(third) > Time(second), $"{Time(second):O} then {Time(third):O}");
        Assert.Equal(transport, first.GetProperty("transport").GetString());

        using var client = server.CreateClient(server.Http);
        using JsonDocument stats = JsonDocument.Parse(await client.GetStringAsync("/stats", deadline.Token));
        Assert.Equal(PropertyNames(stats.RootElement), PropertyNames(first));
        Assert.Equal(stats.RootElement.GetProperty("loops").GetArrayLength(), first.GetProperty("loops").GetArrayLength());
    }

    [Fact]
    public async Task DashboardHubFalseLeavesTheHubUnmapped()
    {
        await using var server = await DemoServer.StartAsync("--dashboard-hub", "false");
        using var client = server.CreateClient(server.Http);

        using var negotiate = await client.PostAsync("/hubs/stats/negotiate?negotiateVersion=1", content: null);

        Assert.Equal(HttpStatusCode.NotFound, negotiate.StatusCode);
        // /stats, the dashboard's fallback, is still there.
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/stats")).StatusCode);
    }

    private static DateTimeOffset Time(JsonElement snapshot) => snapshot.GetProperty("time").GetDateTimeOffset();

    private static string[] PropertyNames(JsonElement element) => element.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal).ToArray();
}
