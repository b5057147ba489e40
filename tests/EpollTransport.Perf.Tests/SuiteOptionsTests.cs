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
}
