using Xunit;

namespace DemoWeb.Tests;

/// <summary>What DemoWeb prints when it starts: every bound address, the transport and its loop count.</summary>
public class BannerTests
{
    [Fact]
    public async Task OverSocketsTheBannerNamesTheTransportItsQueuesAndTheGeneratedCertificate()
    {
        using var demo = await DemoProcess.StartAsync(
        [
            "--transport", "sockets", "--threads", "3", "--inline", "--https",
            "--urls", "http://127.0.0.1:0", "--echo-port", "0", "--h2c-port", "0", "--https-port", "0",
        ]);
        foreach (string role in new[] { "http", "echo", "h2c", "https" })
        {
            Uri address = await demo.AddressAsync(role);
            Assert.Equal("127.0.0.1", address.Host);
            Assert.NotEqual(0, address.Port);
        }

        string banner = demo.Output.Text;
        Assert.Contains("DemoWeb transport: sockets (3 IOQueues, inline scheduling)", banner);
        Assert.Contains("generated a self-signed certificate", banner);

        await demo.SignalAsync("TERM");
        await demo.WaitForExitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(0, demo.ExitCode);
    }

    [Fact]
    public async Task OverEpollTheBannerGivesTheLoopCountAndATurnedOffPortIsNotBound()
    {
        using var demo = await DemoProcess.StartAsync(["--urls", "http://127.0.0.1:0", "--threads", "3", "--echo-port", "0", "--h2c-port", "-1"]);
        await demo.AddressAsync("echo");

        Assert.Contains("DemoWeb transport: epoll (3 loops, thread-pool scheduling, inline when quiet)", demo.Output.Text);
        Assert.DoesNotContain("DemoWeb h2c:", demo.Output.Text);
        Assert.DoesNotContain("DemoWeb https:", demo.Output.Text);

        await demo.SignalAsync("INT");
        await demo.WaitForExitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(0, demo.ExitCode);
    }

    [Fact]
    public async Task OneLoopIsOneLoopNotOneLoops()
    {
        using var demo = await DemoProcess.StartAsync(["--urls", "http://127.0.0.1:0", "--threads", "1", "--echo-port", "-1", "--h2c-port", "-1"]);

        Assert.Contains("DemoWeb transport: epoll (1 loop, thread-pool scheduling, inline when quiet)", demo.Output.Text);
    }
}
