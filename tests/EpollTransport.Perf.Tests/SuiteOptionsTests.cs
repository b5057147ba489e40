using Xunit;

namespace EpollTransport.Perf.Tests;

public sealed class SuiteOptionsTests
{
    [Fact]
    public void TheSuiteTakesRoundsThenSeconds()
    {
        SuiteOptions options = SuiteOptions.Parse(["4", "7", "--only", "h2c"]);

        Assert.Equal(4, options.Rounds);
        Assert.Equal(7, options.Seconds);
        Assert.Equal(["h2c"], options.Only);
    }

    [Fact]
    public void ProfileTakesSecondsAloneAndOneRun()
    {
        SuiteOptions options = SuiteOptions.ParseProfile(["7", "--configs", "sockets default,epoll"]);

        Assert.Equal(1, options.Rounds);
        Assert.Equal(7, options.Seconds);
        Assert.Equal(["sockets default", "epoll"], options.Configs);
    }

    [Fact]
    public void ProfileRejectsRoundsWithTheOffendingArgument()
    {
        Assert.Contains("--rounds", Assert.Throws<ArgumentException>(() => SuiteOptions.ParseProfile(["--rounds", "3"])).Message);
        Assert.Contains("'9'", Assert.Throws<ArgumentException>(() => SuiteOptions.ParseProfile(["5", "9"])).Message);
    }

    [Fact]
    public void SecondsMustBePositive()
        => Assert.Contains("'0'", Assert.Throws<ArgumentException>(() => SuiteOptions.ParseProfile(["0"])).Message);

    [Theory]
    [InlineData(null, "shared dedicated")]
    [InlineData("both", "shared dedicated")]
    [InlineData("shared", "shared")]
    [InlineData("Dedicated", "dedicated")]
    public void TheSetupOptionTakesSharedDedicatedOrBoth(string? setup, string expected)
    {
        SuiteOptions options = SuiteOptions.Parse(setup is null ? ["1", "2"] : ["1", "2", "--setup", setup]);

        Assert.Equal(expected, string.Join(' ', options.Setups.Select(CorePlacement.Name)));
    }

    [Fact]
    public void AnUnknownSetupIsRejectedWithWhatWasGiven()
        => Assert.Contains("'pinned'", Assert.Throws<ArgumentException>(() => SuiteOptions.Parse(["--setup", "pinned"])).Message);

    [Fact]
    public void ProfileRunsUnpinnedUnlessToldOtherwise()
    {
        Assert.Equal([CoreSetup.Shared], SuiteOptions.ParseProfile(["5"]).Setups);
        Assert.Equal([CoreSetup.Dedicated], SuiteOptions.ParseProfile(["5", "--setup", "dedicated"]).Setups);
        Assert.Equal([CoreSetup.Shared, CoreSetup.Dedicated], SuiteOptions.ParseProfile(["--setup", "both"]).Setups);
    }

    [Fact]
    public void TheDefaultConfigurationsLeaveUnsafeInlineOut()
    {
        Assert.Equal(
            [ServerConfiguration.Baseline, ServerConfiguration.SocketsTuned, ServerConfiguration.EpollSafeInline, ServerConfiguration.EpollDefault],
            SuiteOptions.Parse([]).SelectConfigurations().Select(c => c.Name));
    }

    [Fact]
    public void UnsafeInlineIsThereThroughConfigs()
    {
        Assert.Equal(
            [ServerConfiguration.Baseline, ServerConfiguration.EpollUnsafeInline],
            SuiteOptions.Parse(["--configs", "sockets default,unsafe"]).SelectConfigurations().Select(c => c.Name));
    }

    [Fact]
    public void EachConfigurationPassesItsSchedulingToDemoWeb()
    {
        Dictionary<string, string[]> arguments = ServerConfiguration.All.ToDictionary(c => c.Name, c => c.Arguments);

        Assert.Equal(ServerConfiguration.Baseline, ServerConfiguration.All[0].Name);
        Assert.Equal(["--transport", "sockets"], arguments[ServerConfiguration.Baseline]);
        Assert.Equal(["--transport", "sockets", "--inline", "true"], arguments[ServerConfiguration.SocketsTuned]);
        Assert.Equal(["--transport", "epoll", "--scheduling", "inline"], arguments[ServerConfiguration.EpollSafeInline]);
        Assert.Equal(["--transport", "epoll"], arguments[ServerConfiguration.EpollDefault]);
        Assert.Equal(["--transport", "epoll", "--inline", "true"], arguments[ServerConfiguration.EpollUnsafeInline]);
    }
}
