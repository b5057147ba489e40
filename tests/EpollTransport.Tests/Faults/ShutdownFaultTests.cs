using System.Diagnostics;
using System.Net.Sockets;
using EpollTransport.Tests.Helpers.RawSockets;
using EpollTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Xunit;

namespace EpollTransport.Tests.Faults;

/// <summary>Stopping a server whose handler never returns, and the options' documented defaults.</summary>
public class ShutdownFaultTests
{
    private static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(1);

    /// <summary>Every transport, plus safe inline with its stuck-thread cap already reached.</summary>
    public static TheoryData<string, bool> TransportsAndCap
    {
        get
        {
            var data = new TheoryData<string, bool>();
            foreach (string transport in new[] { Transports.Sockets, Transports.Epoll, Transports.EpollSingleLoop, Transports.EpollInline, Transports.EpollUnsafeInline })
            {
                data.Add(transport, false);
            }
            data.Add(Transports.EpollInline, true);
            return data;
        }
    }

    [Theory]
    [MemberData(nameof(TransportsAndCap))]
    public async Task StopHonoursTheShutdownTimeoutWhileAHandlerNeverReturns(string transport, bool stuckThreadCapReached)
    {
        using var release = new ManualResetEventSlim();
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using TestServer server = await TestServer.StartAsync(transport, app =>
        {
            app.MapGet("/", () => "ok");
            Helpers.LoopPlacement.MapWhere(app);
            app.MapGet("/block", () =>
            {
                entered.TrySetResult();
                // Synchronously, as a handler stuck on a lock or a blocking call does: under inline
                // scheduling this holds the loop thread itself.
                release.Wait(TimeSpan.FromSeconds(60));
                return "released";
            });
        }, new TestServerOptions
        {
            ShutdownTimeout = ShutdownTimeout,
            ConfigureEpoll = o =>
            {
                o.ThreadCount = 1;
                if (stuckThreadCapReached)
                {
                    o.Hooks = new TestHooks { MaxStuckThreads = 0 };
                }
            },
        });
        try
        {
            using Socket client = await RawClient.ConnectAsync(server.EndPoint);
            // A first request, so that Kestrel waits for the second one in a pending read: its
            // continuation then runs where the transport schedules it (the loop, in the inline modes).
            Assert.Equal("ok", (await RawClient.GetAsync(client)).BodyText);
            if (stuckThreadCapReached)
            {
                // On a loaded box Kestrel may still be finishing that request on the thread pool when
                // the next one arrives, and then runs it there: make sure one ran on the loop first.
                await Helpers.LoopPlacement.WarmOnLoopAsync(client);
            }
            await RawClient.SendAsync(client, "GET /block HTTP/1.1\r\nHost: test\r\n\r\n");
            await entered.Task.WaitAsync(TimeSpan.FromSeconds(15));
            if (stuckThreadCapReached)
            {
                // The loop really is held: the watchdog wanted to move it and could not.
                await RawClient.WaitForLogAsync(server.Logs, r => r.EventId.Name == "HandoffCapReached", TimeSpan.FromSeconds(15));
            }

            var stopping = Stopwatch.StartNew();
            // Kestrel gives connections the shutdown timeout, then aborts them and waits a second more;
            // a transport that honours the shutdown token adds nothing that can hang.
            await server.StopAsync().WaitAsync(TimeSpan.FromSeconds(20));
            Assert.True(stopping.Elapsed < TimeSpan.FromSeconds(20));
        }
        finally
        {
            release.Set();
        }
    }

    [Fact]
    public void TheSchedulingModesZeroValueIsTheDocumentedDefault()
    {
        Assert.Equal(ApplicationSchedulingMode.ThreadPool, default(ApplicationSchedulingMode));
        Assert.Equal(ApplicationSchedulingMode.ThreadPool, new EpollTransportOptions().ApplicationSchedulingMode);

        // Configuration binding: a section without the key, with an empty value, and with "Inline".
        Assert.Equal(ApplicationSchedulingMode.ThreadPool, Bind(new Dictionary<string, string?> { ["Epoll:Backlog"] = "128" }).ApplicationSchedulingMode);
        Assert.Equal(ApplicationSchedulingMode.Inline, Bind(new Dictionary<string, string?> { ["Epoll:ApplicationSchedulingMode"] = "Inline" }).ApplicationSchedulingMode);
        Assert.Equal(ApplicationSchedulingMode.ThreadPool, Bind(new Dictionary<string, string?> { ["Epoll:ApplicationSchedulingMode"] = "0" }).ApplicationSchedulingMode);
    }

    private static EpollTransportOptions Bind(Dictionary<string, string?> values)
    {
        IConfiguration configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var services = new ServiceCollection();
        services.Configure<EpollTransportOptions>(configuration.GetSection("Epoll"));
        return services.BuildServiceProvider().GetRequiredService<IOptions<EpollTransportOptions>>().Value;
    }
}
