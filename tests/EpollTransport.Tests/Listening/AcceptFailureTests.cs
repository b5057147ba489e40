using System.Net.Sockets;
using EpollTransport.Interop;
using EpollTransport.Listening;
using EpollTransport.Tests.Helpers.RawSockets;
using EpollTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using Xunit;

namespace EpollTransport.Tests.Listening;

/// <summary>
/// What the listener does when accept(2) fails or when connections reach the descriptor reserve, with
/// the failures injected (a real exhaustion runs in DemoWeb.Tests' DescriptorLimitTests, in a child
/// process, since this one must keep its descriptors). Real Kestrel servers, real clients.
/// </summary>
public class AcceptFailureTests
{
    private const int AcceptFailedEvent = 32;
    private const int AcceptRetriedEvent = 33;
    private const int DescriptorLimitEvent = 40;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>A switchable fault for the accept hook, with a count of how often accept was tried.</summary>
    private sealed class AcceptFault
    {
        private int _errno;
        private int _calls;

        public Errno Current
        {
            set => Volatile.Write(ref _errno, value.Value);
        }

        public int Calls => Volatile.Read(ref _calls);

        public Errno Next()
        {
            Interlocked.Increment(ref _calls);
            return new Errno(Volatile.Read(ref _errno));
        }
    }

    private static Task<TestServer> StartAsync(Action<EpollTransportOptions> configure) =>
        TestServer.StartAsync(Transports.EpollSingleLoop, app => app.MapGet("/", () => "ok"), new TestServerOptions { ConfigureEpoll = configure });

    public static TheoryData<string> ResourceErrors => new() { "EMFILE", "ENFILE", "ENOBUFS", "ENOMEM" };

    [Theory]
    [MemberData(nameof(ResourceErrors))]
    public async Task OutOfResourcesTheListenerBacksOffWithoutSpinningWarnsOnceAndResumesByItself(string errnoName)
    {
        var fault = new AcceptFault();
        await using TestServer server = await StartAsync(o => o.Hooks = new TestHooks { AcceptFault = fault.Next });
        Errno errno = errnoName switch
        {
            "EMFILE" => Errno.EMFILE,
            "ENFILE" => Errno.ENFILE,
            "ENOBUFS" => Errno.ENOBUFS,
            _ => Errno.ENOMEM,
        };

        fault.Current = errno;
        using Socket waiting = await RawClient.ConnectAsync(server.EndPoint);
        await RawClient.SendAsync(waiting, "GET / HTTP/1.1\r\nHost: test\r\n\r\n");
        // The pending connection keeps the listener readable; a loop that retried at once would call
        // accept thousands of times in this second. Backing off (50 ms, doubling) it tries about five.
        int callsBefore = fault.Calls;
        await RawClient.WaitUntilAsync(() => fault.Calls >= callsBefore + 3, Timeout, () => $"accept was tried {fault.Calls} times");
        await Task.Delay(TimeSpan.FromSeconds(1));
        int callsInASecond = fault.Calls - callsBefore;
        Assert.InRange(callsInASecond, 3, 15);

        fault.Current = Errno.None;
        // The connection waited in the backlog, and is served once the pause ends (at most 1 s).
        RawResponse response = await RawClient.ReadHttpResponseAsync(waiting).WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal("ok", response.BodyText);
        using Socket next = await RawClient.ConnectAsync(server.EndPoint);
        Assert.Equal("ok", (await RawClient.GetAsync(next)).BodyText);

        LogRecord[] warnings = server.Logs.Records.Where(r => r.EventId.Id == AcceptFailedEvent).ToArray();
        LogRecord warning = Assert.Single(warnings);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains(errnoName, warning.Message);
    }

    [Fact]
    public async Task AConnectionAbortedInTheBacklogIsSkippedAndTheNextOneIsServed()
    {
        int abortedOnce = 0;
        await using TestServer server = await StartAsync(o => o.Hooks = new TestHooks
        {
            AcceptFault = () => Interlocked.Exchange(ref abortedOnce, 1) == 0 ? Errno.ECONNABORTED : Errno.None,
        });

        using Socket socket = await RawClient.ConnectAsync(server.EndPoint);
        Assert.Equal("ok", (await RawClient.GetAsync(socket)).BodyText);

        Assert.Contains(server.Logs.Records, r => r.EventId.Id == AcceptRetriedEvent && r.Level == LogLevel.Debug && r.Message.Contains("ECONNABORTED"));
        Assert.DoesNotContain(server.Logs.Records, r => r.Level >= LogLevel.Warning && r.Category.StartsWith("EpollTransport", StringComparison.Ordinal));
    }

    [Fact]
    public async Task WithinTheDescriptorReserveNewConnectionsAreResetAtOnceAndServedAgainWhenDescriptorsFree()
    {
        long limit = int.MaxValue;
        await using TestServer server = await StartAsync(o => o.Hooks = new TestHooks { DescriptorLimit = () => Volatile.Read(ref limit) });
        using (Socket before = await RawClient.ConnectAsync(server.EndPoint))
        {
            Assert.Equal("ok", (await RawClient.GetAsync(before)).BodyText);
        }

        // Every descriptor number is inside the reserve of a limit this small.
        Volatile.Write(ref limit, DescriptorReserve.SmallestReserve);
        for (int i = 0; i < 3; i++)
        {
            using var refused = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            // Reset, not left hanging: the connect (on loopback the reset can beat its completion), the
            // send or the read fails, or the read ends, at once; it never times out.
            var outcome = await Record.ExceptionAsync(async () =>
            {
                await refused.ConnectAsync(server.EndPoint);
                await refused.SendAsync("GET / HTTP/1.1\r\nHost: test\r\n\r\n"u8.ToArray());
                Assert.Equal(0, await refused.ReceiveAsync(new byte[256]).WaitAsync(TimeSpan.FromSeconds(5)));
            });
            Assert.True(outcome is null or SocketException { SocketErrorCode: SocketError.ConnectionReset or SocketError.Shutdown }, $"refused client saw {outcome}");
        }
        // The counter moves on the loop, which may be a moment behind the client that saw its reset.
        await RawClient.WaitUntilAsync(() => Refused(server) == 3, Timeout, () => $"{Refused(server)} refused");
        LogRecord warning = Assert.Single(server.Logs.Records, r => r.EventId.Id == DescriptorLimitEvent);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains($"of {DescriptorReserve.SmallestReserve} descriptors are open", warning.Message);

        Volatile.Write(ref limit, int.MaxValue);
        // The listener resumes by itself once the pause ends (at most 1 s).
        using Socket after = await RawClient.ConnectAsync(server.EndPoint);
        Assert.Equal("ok", (await RawClient.GetAsync(after).WaitAsync(TimeSpan.FromSeconds(5))).BodyText);
        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }

    private static long Refused(TestServer server)
        => RawClient.EpollFactory(server)!.GetLoopCounters().Sum(loop => loop.ConnectionsRefused);
}
