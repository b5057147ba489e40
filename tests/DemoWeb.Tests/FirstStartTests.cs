using Xunit;

namespace DemoWeb.Tests;

/// <summary>
/// What a newcomer sees in the first minutes: the console of a default start, and DemoWeb started the
/// way a systemd unit or a container starts it, from a directory that is not its own.
/// </summary>
public class FirstStartTests
{
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(20);

    /// <summary>
    /// The defaults but the ports (dynamic, so parallel tests and a DemoWeb someone left running do not
    /// collide): a "localhost" URL, the echo and h2c ports, HTTPS off.
    /// </summary>
    private static readonly string[] DefaultsOnDynamicPorts = ["--urls", "http://localhost:0", "--echo-port", "0", "--h2c-port", "0"];

    /// <summary>
    /// No argument at all, so the default ports (5000 to 5002; no other test binds them). With --urls the
    /// console would show Kestrel's "Overriding address(es)" warning instead, which is not what a
    /// newcomer's first start prints.
    /// </summary>
    [Fact]
    public async Task ADefaultStartPrintsNoWarning()
    {
        using var demo = await DemoProcess.StartAsync([]);
        using (var client = new HttpClient { BaseAddress = await demo.AddressAsync("http") })
        {
            using HttpResponseMessage response = await client.GetAsync("/plaintext");
            Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        }

        string output = await StopAsync(demo);
        Assert.Contains("DemoWeb is ready", output);
        Assert.DoesNotContain(Lines(output), IsWarningOrWorse);
    }

    [Fact]
    public async Task StartedFromAnotherDirectoryItReadsItsOwnSettingsAndLogsNothingPerRequest()
    {
        DirectoryInfo elsewhere = Directory.CreateTempSubdirectory("demoweb-elsewhere-");
        try
        {
            using var demo = await DemoProcess.StartAsync(DefaultsOnDynamicPorts, workingDirectory: elsewhere.FullName);
            using (var client = new HttpClient { BaseAddress = await demo.AddressAsync("http") })
            {
                foreach (string path in new[] { "/plaintext", "/json", "/", "/no-such-page" })
                {
                    using HttpResponseMessage response = await client.GetAsync(path);
                }
            }

            // Stopped before reading: the console logger writes from a queue of its own, and drains it on the way out.
            string output = await StopAsync(demo);
            Assert.Contains($"Content root path: {AppContext.BaseDirectory.TrimEnd('/')}", output);
            // appsettings.json keeps Microsoft.AspNetCore at Warning, which is what keeps the hosting
            // layer's per-request lines ("Request starting …", "Executing endpoint …") off the console.
            Assert.DoesNotContain(Lines(output), line => line.StartsWith("info: Microsoft.AspNetCore.", StringComparison.Ordinal));
            Assert.DoesNotContain("Request starting", output);
        }
        finally
        {
            elsewhere.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task AContentRootTheUserGivesIsTheOneUsed()
    {
        DirectoryInfo chosen = Directory.CreateTempSubdirectory("demoweb-content-root-");
        try
        {
            using var demo = await DemoProcess.StartAsync([.. DefaultsOnDynamicPorts, "--contentRoot", chosen.FullName]);
            string output = await StopAsync(demo);
            Assert.Contains($"Content root path: {chosen.FullName}", output);
        }
        finally
        {
            chosen.Delete(recursive: true);
        }
    }

    /// <summary>Stops DemoWeb as a service manager would and returns everything it printed.</summary>
    private static async Task<string> StopAsync(DemoProcess demo)
    {
        await demo.SignalAsync("TERM");
        await demo.WaitForExitAsync(ExitTimeout);
        Assert.Equal(0, demo.ExitCode);
        await demo.Output.WaitForEndAsync(ExitTimeout);
        return demo.Output.Text;
    }

    private static string[] Lines(string output) => output.Split('\n');

    /// <summary>The console logger's level prefixes for Warning, Error and Critical.</summary>
    private static bool IsWarningOrWorse(string line)
        => line.StartsWith("warn:", StringComparison.Ordinal) || line.StartsWith("fail:", StringComparison.Ordinal) || line.StartsWith("crit:", StringComparison.Ordinal);
}
