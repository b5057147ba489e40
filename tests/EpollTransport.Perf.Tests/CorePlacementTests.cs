using Xunit;

namespace EpollTransport.Perf.Tests;

public sealed class CorePlacementTests
{
    [Fact]
    public void OnTwoCpusTheServerGetsCpu1AndTheLoadCpu0()
    {
        var placement = new CorePlacement(CoreSetup.Dedicated, 2);

        Assert.Equal("1", placement.ServerCpus);
        Assert.Equal("0", placement.LoadCpus);
        Assert.Equal("Dedicated core (server on CPU 1, load on CPU 0)", placement.Heading);
        Assert.Equal("taskset -c 1 dotnet DemoWeb.dll --transport epoll", Line(placement.Server("dotnet", ["DemoWeb.dll", "--transport", "epoll"])));
        Assert.Equal("taskset -c 0 wrk -t 2", Line(placement.Load("wrk", ["-t", "2"])));
    }

    [Fact]
    public void OnMoreCpusTheLoadGetsAllButTheLast()
    {
        var placement = new CorePlacement(CoreSetup.Dedicated, 8);

        Assert.Equal("7", placement.ServerCpus);
        Assert.Equal("0-6", placement.LoadCpus);
        Assert.Equal("Dedicated core (server on CPU 7, load on CPUs 0-6)", placement.Heading);
        Assert.Equal("taskset -c 0-6 h2load -c 16", Line(placement.Load("h2load", ["-c", "16"])));
    }

    [Fact]
    public void SharedCoresPinNothing()
    {
        var placement = new CorePlacement(CoreSetup.Shared, 2);

        Assert.Null(placement.ServerCpus);
        Assert.Null(placement.LoadCpus);
        Assert.Equal("Shared cores", placement.Heading);
        Assert.Equal("dotnet DemoWeb.dll", Line(placement.Server("dotnet", ["DemoWeb.dll"])));
        Assert.Equal("echo_load 127.0.0.1 80", Line(placement.Load("echo_load", ["127.0.0.1", "80"])));
    }

    [Fact]
    public void DedicatingACoreNeedsTwo()
    {
        Assert.False(CorePlacement.CanDedicate(1));
        Assert.True(CorePlacement.CanDedicate(2));
    }

    [Fact]
    public void ASetupsNameReadsBack()
    {
        Assert.Equal("shared", CorePlacement.Name(CoreSetup.Shared));
        Assert.Equal("dedicated", CorePlacement.Name(CoreSetup.Dedicated));
        Assert.All(Enum.GetValues<CoreSetup>(), setup => Assert.Equal(setup, CorePlacement.Parse(CorePlacement.Name(setup))));
        Assert.Throws<FormatException>(() => CorePlacement.Parse("both"));
    }

    [Fact]
    public void MessagesNameThePinnedToolRatherThanTaskset()
    {
        Assert.Equal("wrk (on CPU 0)", Processes.Describe("taskset", ["-c", "0", "wrk", "-t", "2"]));
        Assert.Equal("wrk", Processes.Describe("wrk", ["-t", "2"]));
    }

    [Fact]
    public void OnlyIdleMemoryStaysOutOfTheDedicatedSetup()
    {
        Assert.All(ScenarioCatalog.All, s => Assert.Equal(s is not IdleConnectionsScenario, s.RunsIn(CoreSetup.Dedicated)));
        Assert.All(ScenarioCatalog.All, s => Assert.True(s.RunsIn(CoreSetup.Shared)));
    }

    /// <summary>The command as one line, to compare by content.</summary>
    private static string Line((string FileName, string[] Arguments) command) => string.Join(' ', [command.FileName, .. command.Arguments]);
}
