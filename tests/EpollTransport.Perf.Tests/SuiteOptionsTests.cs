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

    [Theory]
    [InlineData(new string[0], 0)]
    [InlineData(new[] { "--busy", "2" }, 2)]
    [InlineData(new[] { "--busy", "0" }, 0)]
    [InlineData(new[] { "--busy", "Cores" }, -1)] // one per CPU of this machine
    public void BusyNeighboursAreOffUnlessAskedFor(string[] args, int expected)
    {
        Assert.Equal(expected < 0 ? Environment.ProcessorCount : expected, SuiteOptions.Parse(args).Busy);
    }

    [Theory]
    [InlineData("-1")]
    [InlineData("two")]
    [InlineData("65")]
    public void ABadBusyCountIsRejectedWithWhatWasGiven(string count)
        => Assert.Contains($"'{count}'", Assert.Throws<ArgumentException>(() => SuiteOptions.Parse(["--busy", count])).Message);

    [Fact]
    public void CoresMeansOneSpinnerPerCpu() => Assert.Equal(8, SuiteOptions.ParseBusy("cores", processors: 8));

    [Fact]
    public void ProfileTakesNoBusyNeighbours()
        => Assert.Contains("--busy", Assert.Throws<ArgumentException>(() => SuiteOptions.ParseProfile(["--busy", "2"])).Message);

    [Theory]
    [InlineData("one conn", new[] { ScenarioCatalog.OneConnectionPlaintext, ScenarioCatalog.OneConnectionHttps11, ScenarioCatalog.OneConnectionH2c, ScenarioCatalog.OneConnectionHttps2 })]
    [InlineData("upload", new[] { ScenarioCatalog.Upload64B, ScenarioCatalog.Upload64KiB, ScenarioCatalog.UploadDefault })]
    [InlineData("https", new[] { ScenarioCatalog.OneConnectionHttps11, ScenarioCatalog.OneConnectionHttps2, ScenarioCatalog.HttpsJson64 })]
    [InlineData("read buffer 64 B", new[] { ScenarioCatalog.Upload64B })]
    [InlineData("h2c", new[] { ScenarioCatalog.H2c, ScenarioCatalog.OneConnectionH2c })]
    public void TheNewScenariosAreNamedForSensibleFilters(string only, string[] expected)
    {
        Assert.Equal(expected, SuiteOptions.Parse(["--only", only]).SelectScenarios(ScenarioCatalog.All).Select(s => s.Name));
    }

    [Fact]
    public void TheIssuesGroupSelectsTheIssuesSubsetInRunOrder()
    {
        IReadOnlyList<Scenario> selected = SuiteOptions.Parse(["--only", ScenarioCatalog.IssueGroup]).SelectScenarios(ScenarioCatalog.All);

        Assert.Equal(
            [
                ScenarioCatalog.Plaintext64, ScenarioCatalog.Pipelined, ScenarioCatalog.Json, ScenarioCatalog.Churn, ScenarioCatalog.H2c,
                ScenarioCatalog.OneConnectionPlaintext, ScenarioCatalog.OneConnectionHttps11, ScenarioCatalog.OneConnectionH2c, ScenarioCatalog.OneConnectionHttps2,
                ScenarioCatalog.HttpsJson64, ScenarioCatalog.EchoPingPong, ScenarioCatalog.Upload64B, ScenarioCatalog.Upload64KiB, ScenarioCatalog.UploadDefault,
            ],
            selected.Select(s => s.Name));
        // Every name a group lists is in the catalog: a renamed scenario must not drop out of it silently.
        Assert.All(ScenarioCatalog.Groups.Values.SelectMany(names => names), name => Assert.NotNull(ScenarioCatalog.Find(name)));
    }

    [Fact]
    public void AGroupCombinesWithPlainTexts()
    {
        IReadOnlyList<Scenario> selected = SuiteOptions.Parse(["--only", $"{ScenarioCatalog.IssueGroup},idle"]).SelectScenarios(ScenarioCatalog.All);

        Assert.Equal(15, selected.Count);
        Assert.Equal(ScenarioCatalog.Idle, selected[^1].Name);
    }

    [Fact]
    public void AnUnknownGroupIsRejectedWithTheGroupsThereAre()
    {
        string message = Assert.Throws<ArgumentException>(() => SuiteOptions.Parse(["--only", "@issue-24"])).Message;

        Assert.Contains("@issue-24", message);
        Assert.Contains(ScenarioCatalog.IssueGroup, message);
    }

    [Fact]
    public void OnlyTheUploadsAskForServersOfTheirOwn()
    {
        Dictionary<string, IReadOnlyList<string>> own = ScenarioCatalog.All.Where(s => s.ServerArguments.Count > 0).ToDictionary(s => s.Name, s => s.ServerArguments);

        Assert.Equal(
            new Dictionary<string, IReadOnlyList<string>>
            {
                [ScenarioCatalog.Upload64B] = ["--max-read-buffer", "64"],
                [ScenarioCatalog.Upload64KiB] = ["--max-read-buffer", "65536"],
            },
            own);
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

    [Fact]
    public void BeforeAddsTheEarlierBuildsEpollDefaultAfterTheSelectedConfigurations()
    {
        string directory = Directory.CreateTempSubdirectory("before-build").FullName;
        try
        {
            File.WriteAllText(Path.Combine(directory, "DemoWeb.dll"), "");
            SuiteOptions options = SuiteOptions.Parse(["--configs", "default", "--before", directory]);

            IReadOnlyList<ServerConfiguration> configurations = options.SelectConfigurations();
            Assert.Equal([ServerConfiguration.Baseline, ServerConfiguration.EpollDefault, ServerConfiguration.EpollDefaultBefore],
                configurations.Select(c => c.Name));
            Assert.Equal(Path.Combine(directory, "DemoWeb.dll"), configurations[^1].DemoWebDll);
            Assert.Equal(["--transport", "epoll"], configurations[^1].Arguments);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void BeforeWithoutABuildNamesTheMissingFile()
    {
        string missing = Path.Combine(Path.GetTempPath(), "no-such-build-" + Guid.NewGuid().ToString("N"));
        Assert.Contains(Path.Combine(missing, "DemoWeb.dll"), Assert.Throws<ArgumentException>(() => SuiteOptions.Parse(["--before", missing])).Message);
    }
}
