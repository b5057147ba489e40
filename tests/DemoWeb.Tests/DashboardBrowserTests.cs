using System.Globalization;
using System.Text.RegularExpressions;
using Xunit;

namespace DemoWeb.Tests;

/// <summary>
/// The dashboard in a real headless Chromium: the numbers it renders from /stats follow the traffic.
/// </summary>
public partial class DashboardBrowserTests
{
    [Fact]
    public async Task DashboardNumbersFollowTheTraffic()
    {
        string chromium = Tools.Require("chromium");
        await using var server = await DemoServer.StartAsync("--threads", "2");
        await MakeConnectionsAsync(server, 10);

        string first = await RenderAsync(chromium, server);
        Assert.Contains("transport: epoll", first);
        Assert.Equal(2, LoopRow().Matches(first).Count);
        long acceptedBefore = Total(first, "connections-accepted");
        long bytesBefore = Total(first, "bytes-received");
        Assert.True(acceptedBefore >= 10, $"The page shows {acceptedBefore} accepted connections after 10 were made.");

        await MakeConnectionsAsync(server, 25);

        string second = await RenderAsync(chromium, server);
        long acceptedAfter = Total(second, "connections-accepted");
        Assert.True(acceptedAfter >= acceptedBefore + 25, $"The page went from {acceptedBefore} to {acceptedAfter} accepted connections after 25 more.");
        Assert.True(Total(second, "bytes-received") > bytesBefore);
    }

    private static async Task MakeConnectionsAsync(DemoServer server, int count)
    {
        for (int i = 0; i < count; i++)
        {
            using var client = server.CreateClient(server.Http);
            Assert.Equal("Hello, World!", await client.GetStringAsync("/plaintext"));
        }
    }

    /// <summary>Loads the page and returns the DOM after its scripts ran (virtual time lets the fetch of /stats finish).</summary>
    private static async Task<string> RenderAsync(string chromium, DemoServer server)
    {
        string profile = Directory.CreateTempSubdirectory("demoweb-chromium-").FullName;
        try
        {
            var (exitCode, output) = await Tools.RunAsync(chromium,
            [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                $"--user-data-dir={profile}", "--virtual-time-budget=3000", "--dump-dom", server.Http.ToString(),
            ], TimeSpan.FromSeconds(60));
            Assert.True(exitCode == 0, output);
            return output;
        }
        finally
        {
            Directory.Delete(profile, recursive: true);
        }
    }

    private static long Total(string dom, string name)
    {
        Match match = Regex.Match(dom, $"id=\"total-{name}\">([0-9,]+)<");
        Assert.True(match.Success, $"The page has no rendered total-{name}.");
        return long.Parse(match.Groups[1].Value.Replace(",", string.Empty, StringComparison.Ordinal), CultureInfo.InvariantCulture);
    }

    [GeneratedRegex("<tr data-loop=")]
    private static partial Regex LoopRow();
}
