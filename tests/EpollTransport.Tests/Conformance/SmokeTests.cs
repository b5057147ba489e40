using EpollTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Xunit;

namespace EpollTransport.Tests.Conformance;

public class SmokeTests
{
    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task ServesKeepAliveRequestsAndReturnsEveryBlock(string transport)
    {
        await using var server = await TestServer.StartAsync(transport, app => app.MapGet("/", () => "hello"));
        using (var client = server.CreateClient())
        {
            for (int i = 0; i < 20; i++)
            {
                Assert.Equal("hello", await client.GetStringAsync("/"));
            }
        }
        await server.StopAsync();
        await server.MemoryPool.WhenAllReturnedAsync(TimeSpan.FromSeconds(10));
        Assert.True(server.MemoryPool.TotalRented > 0);
    }
}
