using EpollTransport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Xunit;

namespace DemoWeb.Tests;

/// <summary>How DemoWeb reads its command line: bare on/off switches, the read buffer on either transport, and switches it rejects.</summary>
public class CommandLineSwitchesTests
{
    [Fact]
    public void ABareSwitchAtTheEndIsTurnedOn()
    {
        Assert.Equal(["--urls", "http://127.0.0.1:0", "--https", "true"], CommandLineSwitches.Normalize(["--urls", "http://127.0.0.1:0", "--https"]));
    }

    [Fact]
    public void ABareSwitchFollowedByAnotherKeyIsTurnedOnAndTheKeyKeepsItsValue()
    {
        Assert.Equal(
            ["--inline", "true", "--echo-upper", "true", "--threads", "2"],
            CommandLineSwitches.Normalize(["--inline", "--echo-upper", "--threads", "2"]));
    }

    [Fact]
    public void AnExplicitValueAfterTheSwitchIsLeftAlone()
    {
        Assert.Equal(["--https", "false", "--inline", "true"], CommandLineSwitches.Normalize(["--https", "false", "--inline", "true"]));
    }

    [Fact]
    public void TheEqualsFormIsLeftAlone()
    {
        Assert.Equal(["--https=false", "--urls", "http://127.0.0.1:0"], CommandLineSwitches.Normalize(["--https=false", "--urls", "http://127.0.0.1:0"]));
    }

    [Fact]
    public void KeysThatAreNotOnOffSwitchesAreLeftAlone()
    {
        // Only on/off switches have an obvious implied value; for "--threads" any guess would be wrong.
        Assert.Equal(["--transport", "sockets", "--threads"], CommandLineSwitches.Normalize(["--transport", "sockets", "--threads"]));
    }

    [Fact]
    public async Task BareSwitchesReachTheSettingsWithoutSwallowingTheNextKey()
    {
        await using WebApplication app = DemoApp.Build(["--inline", "--urls", "http://127.0.0.1:0", "--echo-upper", "--https=false"]);
        DemoSettings settings = app.Services.GetRequiredService<DemoSettings>();

        Assert.True(settings.Inline);
        Assert.True(settings.EchoUpper);
        Assert.False(settings.Https);
        Assert.Equal(["http://127.0.0.1:0"], settings.Urls);
    }

    [Theory]
    [InlineData(new string[0], true)]
    [InlineData(new[] { "--dashboard-hub" }, true)]
    [InlineData(new[] { "--dashboard-hub", "false" }, false)]
    [InlineData(new[] { "--dashboard-hub=false" }, false)]
    public async Task TheDashboardHubIsOnUnlessTurnedOff(string[] args, bool expected)
    {
        await using WebApplication app = DemoApp.Build(["--urls", "http://127.0.0.1:0", .. args]);

        Assert.Equal(expected, app.Services.GetRequiredService<DemoSettings>().DashboardHub);
    }

    [Theory]
    [InlineData("epoll")]
    [InlineData("sockets")]
    public async Task TheReadBufferSwitchReachesWhicheverTransportRuns(string transport)
    {
        await using WebApplication app = DemoApp.Build(["--urls", "http://127.0.0.1:0", "--transport", transport, "--max-read-buffer", "65536"]);

        long? configured = transport == "epoll"
            ? app.Services.GetRequiredService<IOptions<EpollTransportOptions>>().Value.MaxReadBufferSize
            : app.Services.GetRequiredService<IOptions<SocketTransportOptions>>().Value.MaxReadBufferSize;
        Assert.Equal(65536, configured);
    }

    [Fact]
    public async Task WithoutTheReadBufferSwitchEachTransportKeepsItsOwnDefault()
    {
        await using WebApplication epoll = DemoApp.Build(["--urls", "http://127.0.0.1:0"]);
        await using WebApplication sockets = DemoApp.Build(["--urls", "http://127.0.0.1:0", "--transport", "sockets"]);

        Assert.Equal(new EpollTransportOptions().MaxReadBufferSize, epoll.Services.GetRequiredService<IOptions<EpollTransportOptions>>().Value.MaxReadBufferSize);
        Assert.Equal(new SocketTransportOptions().MaxReadBufferSize, sockets.Services.GetRequiredService<IOptions<SocketTransportOptions>>().Value.MaxReadBufferSize);
    }

    [Fact]
    public void BadSwitchesAreRejectedWithTheOffendingValue()
    {
        var transport = Assert.Throws<ArgumentException>(() => DemoApp.Build(["--transport", "carrier-pigeon"]));
        Assert.Contains("carrier-pigeon", transport.Message);
        var port = Assert.Throws<ArgumentOutOfRangeException>(() => DemoApp.Build(["--echo-port", "70000"]));
        Assert.Contains("70000", port.Message);
        var readBuffer = Assert.Throws<ArgumentOutOfRangeException>(() => DemoApp.Build(["--max-read-buffer=-64"]));
        Assert.Contains("-64", readBuffer.Message);
    }
}
