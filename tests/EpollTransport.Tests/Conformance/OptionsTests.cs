using System.Net;
using System.Net.Sockets;
using EpollTransport.Tests.Helpers.RawSockets;
using EpollTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Xunit;

namespace EpollTransport.Tests.Conformance;

/// <summary>EpollTransportOptions validation and binding, and how the factory is registered and chosen.</summary>
public class OptionsTests
{
    [Fact]
    public void DefaultsFollowTheSocketsTransport()
    {
        var options = new EpollTransportOptions();
        // Application code runs on the thread pool, so the loops get half the processors.
        Assert.Equal(ApplicationSchedulingMode.ThreadPool, options.ApplicationSchedulingMode);
        Assert.Equal(Math.Clamp(Environment.ProcessorCount / 2, 1, 16), options.ThreadCount);
        Assert.Equal(EpollTransportOptions.DefaultThreadCount, options.ThreadCount);
        Assert.Equal(TimeSpan.FromMilliseconds(5), options.InlineStallThreshold);
        Assert.Equal(EpollTransportOptions.DefaultInlineStallThreshold, options.InlineStallThreshold);
        Assert.Equal(1024 * 1024, options.MaxReadBufferSize);
        Assert.Equal(64 * 1024, options.MaxWriteBufferSize);
        Assert.Equal(512, options.Backlog);
        Assert.True(options.NoDelay);
        Assert.False(options.ReusePort);
        Assert.False(options.UnsafePreferInlineScheduling);
        Assert.Equal(256, EpollTransportOptions.MaxThreadCount);
    }

    [Fact]
    public void UnsetThreadCountFollowsTheSchedulingMode()
    {
        var options = new EpollTransportOptions { ApplicationSchedulingMode = ApplicationSchedulingMode.ThreadPool };
        Assert.Equal(Math.Clamp(Environment.ProcessorCount / 2, 1, 16), options.ThreadCount);
        Assert.Equal(EpollTransportOptions.DefaultThreadCount, options.ThreadCount);

        // The unprotected inline mode runs the application on the loops too, whatever the mode says.
        options.UnsafePreferInlineScheduling = true;
        Assert.Equal(EpollTransportOptions.DefaultInlineThreadCount, options.ThreadCount);

        options.UnsafePreferInlineScheduling = false;
        options.ApplicationSchedulingMode = ApplicationSchedulingMode.Inline;
        Assert.Equal(EpollTransportOptions.DefaultInlineThreadCount, options.ThreadCount);

        // Once set, the count stays what the user asked for whichever mode follows.
        options.ThreadCount = 3;
        options.ApplicationSchedulingMode = ApplicationSchedulingMode.ThreadPool;
        Assert.Equal(3, options.ThreadCount);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(257)]
    [InlineData(int.MinValue)]
    public void InvalidThreadCountIsRejected(int value)
    {
        var options = new EpollTransportOptions();
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => options.ThreadCount = value);
        Assert.Equal(nameof(EpollTransportOptions.ThreadCount), error.ParamName);
        Assert.Equal(value, error.ActualValue);
        Assert.Contains(value.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message);
        Assert.Equal(EpollTransportOptions.DefaultThreadCount, options.ThreadCount);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.5)]
    [InlineData(-5.0)]
    [InlineData(10_001.0)]
    public void InvalidInlineStallThresholdIsRejected(double milliseconds)
    {
        var options = new EpollTransportOptions();
        TimeSpan value = TimeSpan.FromMilliseconds(milliseconds);
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => options.InlineStallThreshold = value);
        Assert.Equal(nameof(EpollTransportOptions.InlineStallThreshold), error.ParamName);
        Assert.Equal(value, error.ActualValue);
        Assert.Contains($"it was {milliseconds.ToString(System.Globalization.CultureInfo.InvariantCulture)} ms", error.Message);
        Assert.Equal(EpollTransportOptions.DefaultInlineStallThreshold, options.InlineStallThreshold);
    }

    [Fact]
    public void InlineStallThresholdLimitsAreAccepted()
    {
        var options = new EpollTransportOptions { InlineStallThreshold = EpollTransportOptions.MinInlineStallThreshold };
        Assert.Equal(TimeSpan.FromMilliseconds(1), options.InlineStallThreshold);
        options.InlineStallThreshold = EpollTransportOptions.MaxInlineStallThreshold;
        Assert.Equal(TimeSpan.FromSeconds(10), options.InlineStallThreshold);
    }

    [Fact]
    public void AnUndefinedSchedulingModeIsRejected()
    {
        var options = new EpollTransportOptions();
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => options.ApplicationSchedulingMode = (ApplicationSchedulingMode)7);
        Assert.Equal(nameof(EpollTransportOptions.ApplicationSchedulingMode), error.ParamName);
        Assert.Contains("it was 7", error.Message);
        Assert.Equal(ApplicationSchedulingMode.ThreadPool, options.ApplicationSchedulingMode);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(256)]
    public void ThreadCountLimitsAreAccepted(int value)
    {
        var options = new EpollTransportOptions { ThreadCount = value };
        Assert.Equal(value, options.ThreadCount);
    }

    [Theory]
    [InlineData(-1L)]
    [InlineData(long.MinValue)]
    public void NegativeBufferSizesAreRejected(long value)
    {
        var options = new EpollTransportOptions();
        string text = value.ToString(System.Globalization.CultureInfo.InvariantCulture);

        var read = Assert.Throws<ArgumentOutOfRangeException>(() => options.MaxReadBufferSize = value);
        Assert.Equal(nameof(EpollTransportOptions.MaxReadBufferSize), read.ParamName);
        Assert.Contains(text, read.Message);

        var write = Assert.Throws<ArgumentOutOfRangeException>(() => options.MaxWriteBufferSize = value);
        Assert.Equal(nameof(EpollTransportOptions.MaxWriteBufferSize), write.ParamName);
        Assert.Contains(text, write.Message);

        Assert.Equal(1024 * 1024, options.MaxReadBufferSize);
        Assert.Equal(64 * 1024, options.MaxWriteBufferSize);
    }

    [Fact]
    public void ZeroAndNullBufferSizesAreAccepted()
    {
        var options = new EpollTransportOptions { MaxReadBufferSize = 0, MaxWriteBufferSize = null };
        Assert.Equal(0, options.MaxReadBufferSize);
        Assert.Null(options.MaxWriteBufferSize);
        options.MaxReadBufferSize = null;
        options.MaxWriteBufferSize = 0;
        Assert.Null(options.MaxReadBufferSize);
        Assert.Equal(0, options.MaxWriteBufferSize);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-5)]
    public void NonPositiveBacklogIsRejected(int value)
    {
        var options = new EpollTransportOptions();
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => options.Backlog = value);
        Assert.Equal(nameof(EpollTransportOptions.Backlog), error.ParamName);
        Assert.Contains(value.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message);
        Assert.Equal(512, options.Backlog);
        options.Backlog = 1;
        Assert.Equal(1, options.Backlog);
    }

    private static EpollTransportOptions BindFromConfiguration(Dictionary<string, string?> values)
    {
        IConfiguration configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var services = new ServiceCollection();
        services.Configure<EpollTransportOptions>(configuration.GetSection("x"));
        using ServiceProvider provider = services.BuildServiceProvider();
        return provider.GetRequiredService<IOptions<EpollTransportOptions>>().Value;
    }

    [Fact]
    public void BindsFromConfiguration()
    {
        EpollTransportOptions options = BindFromConfiguration(new()
        {
            ["x:ThreadCount"] = "3",
            ["x:MaxReadBufferSize"] = "12345",
            ["x:MaxWriteBufferSize"] = "0",
            ["x:Backlog"] = "77",
            ["x:NoDelay"] = "false",
            ["x:ReusePort"] = "true",
            ["x:UnsafePreferInlineScheduling"] = "true",
            ["x:ApplicationSchedulingMode"] = "Inline",
            ["x:InlineStallThreshold"] = "00:00:00.020",
        });
        Assert.Equal(3, options.ThreadCount);
        Assert.Equal(ApplicationSchedulingMode.Inline, options.ApplicationSchedulingMode);
        Assert.Equal(TimeSpan.FromMilliseconds(20), options.InlineStallThreshold);
        Assert.Equal(12345, options.MaxReadBufferSize);
        Assert.Equal(0, options.MaxWriteBufferSize);
        Assert.Equal(77, options.Backlog);
        Assert.False(options.NoDelay);
        Assert.True(options.ReusePort);
        Assert.True(options.UnsafePreferInlineScheduling);
    }

    [Fact]
    public void UnsetConfigurationKeepsTheDefaults()
    {
        EpollTransportOptions options = BindFromConfiguration(new() { ["x:Backlog"] = "9" });
        Assert.Equal(9, options.Backlog);
        Assert.Equal(EpollTransportOptions.DefaultThreadCount, options.ThreadCount);
        Assert.Equal(ApplicationSchedulingMode.ThreadPool, options.ApplicationSchedulingMode);
        Assert.Equal(1024 * 1024, options.MaxReadBufferSize);
        Assert.Equal(64 * 1024, options.MaxWriteBufferSize);
    }

    [Fact]
    public void InvalidConfigurationValueFailsWithTheOptionsError()
    {
        Exception error = Assert.ThrowsAny<Exception>(() => BindFromConfiguration(new() { ["x:ThreadCount"] = "0" }));
        Exception? inner = error;
        while (inner is not null and not ArgumentOutOfRangeException)
        {
            inner = inner.InnerException;
        }
        var outOfRange = Assert.IsType<ArgumentOutOfRangeException>(inner);
        Assert.Equal(nameof(EpollTransportOptions.ThreadCount), outOfRange.ParamName);
    }

    private static EpollTransportFactory CreateFactory()
        => new(Options.Create(new EpollTransportOptions { ThreadCount = 1 }), NullLoggerFactory.Instance);

    public static TheoryData<EndPoint> BindableEndPoints => new()
    {
        new IPEndPoint(IPAddress.Loopback, 0),
        new IPEndPoint(IPAddress.IPv6Any, 8080),
        new UnixDomainSocketEndPoint("/tmp/x.sock"),
        new FileHandleEndPoint(3, FileHandleType.Auto),
        new FileHandleEndPoint(3, FileHandleType.Tcp),
    };

    public static TheoryData<EndPoint> ForeignEndPoints => new()
    {
        new DnsEndPoint("localhost", 80),
        new FileHandleEndPoint(3, FileHandleType.Pipe),
        new UriEndPoint(new Uri("http://example.org/")),
    };

    [Theory]
    [MemberData(nameof(BindableEndPoints))]
    public void CanBindIPUnixAndHandleEndPoints(EndPoint endPoint)
    {
        using EpollTransportFactory factory = CreateFactory();
        Assert.True(factory.CanBind(endPoint));
    }

    [Theory]
    [MemberData(nameof(ForeignEndPoints))]
    public async Task LeavesOtherEndPointsToOtherTransports(EndPoint endPoint)
    {
        using EpollTransportFactory factory = CreateFactory();
        Assert.False(factory.CanBind(endPoint));
        await Assert.ThrowsAsync<NotSupportedException>(async () => await factory.BindAsync(endPoint));
        Assert.Empty(factory.GetLoopCounters());
    }

    [Fact]
    public async Task UseEpollTransportRegistersTheFactoryKestrelPicks()
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseEpollTransport(o => o.ThreadCount = 3);
        builder.WebHost.UseEpollTransport(o => o.Backlog = 42);
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        await using WebApplication app = builder.Build();

        IConnectionListenerFactory[] factories = app.Services.GetServices<IConnectionListenerFactory>().ToArray();
        var epoll = Assert.IsType<EpollTransportFactory>(factories.Last());
        Assert.Single(factories.OfType<EpollTransportFactory>());
        Assert.Same(epoll, app.Services.GetRequiredService<IConnectionListenerFactory>());

        // Both configuration delegates apply.
        EpollTransportOptions options = app.Services.GetRequiredService<IOptions<EpollTransportOptions>>().Value;
        Assert.Equal(3, options.ThreadCount);
        Assert.Equal(42, options.Backlog);

        // And Kestrel really serves through it.
        app.MapGet("/", () => "epoll");
        await app.StartAsync();
        try
        {
            Assert.Equal(3, epoll.GetLoopCounters().Count);
            string address = app.Urls.First();
            using Socket socket = await RawClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, new Uri(address).Port));
            Assert.Equal("epoll", (await RawClient.GetAsync(socket)).BodyText);
            Assert.Equal(1, epoll.GetLoopCounters().Sum(l => l.ConnectionsAccepted));
        }
        finally
        {
            await app.StopAsync();
        }
        Assert.Empty(epoll.GetLoopCounters());
    }

    [Fact]
    public async Task TransportOptionsAreCapturedAtBind()
    {
        // The harness selects epoll with a single loop; the factory keeps that even if the options object
        // is changed later (settings are captured when the loops start).
        await using var server = await TestServer.StartAsync(Transports.EpollSingleLoop, app => app.MapGet("/", () => "ok"));
        EpollTransportFactory factory = RawClient.EpollFactory(server)!;
        Assert.Single(factory.GetLoopCounters());
        server.App.Services.GetRequiredService<IOptions<EpollTransportOptions>>().Value.ThreadCount = 4;
        using Socket socket = await RawClient.ConnectAsync(server.EndPoint);
        Assert.Equal("ok", (await RawClient.GetAsync(socket)).BodyText);
        Assert.Single(factory.GetLoopCounters());
    }
}
