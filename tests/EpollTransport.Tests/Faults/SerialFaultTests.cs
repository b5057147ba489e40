using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using EpollTransport.Interop;
using EpollTransport.Tests.Helpers.RawSockets;
using EpollTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Xunit;

namespace EpollTransport.Tests.Faults;

/// <summary>
/// Faults whose tests count the process's descriptors or change process-wide state (the working
/// directory, descriptor 0), so they run alone.
/// </summary>
[Collection("Serial leak checks")]
public class SerialFaultTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    [Theory]
    [InlineData("epoll_create1")]
    [InlineData("eventfd")]
    [InlineData("epoll_ctl")]
    public async Task ALoopThatFailsToBuildReleasesItselfAndTheLoopsBuiltBeforeIt(string step)
    {
        int failures = 1;
        await using var transport = new Transport.DirectFactory(o =>
        {
            o.ThreadCount = 3;
            o.Hooks = new TestHooks
            {
                // Loop 2 fails at this step, once, as EMFILE would make it.
                LoopCreationFault = (loop, at) => loop == 2 && at == step && Interlocked.Decrement(ref failures) >= 0 ? Errno.EMFILE : Errno.None,
            };
        });
        CountingMemoryPoolFactory pool = transport.MemoryPool;
        DescriptorCensus before = DescriptorCensus.Take();

        SocketException error = await Assert.ThrowsAsync<SocketException>(() => transport.BindLoopbackAsync());
        Assert.Contains(step, error.Message);
        Assert.Null(transport.Factory.CurrentLoopGroup);
        // Loops 0 and 1 were built and never started: their epoll instances, eventfds and pools went with
        // the failure, and so did what loop 2 had made before its failing step.
        Assert.Empty(DescriptorCensus.Take().NewSince(before));
        Assert.Equal(pool.PoolsCreated, pool.PoolsDisposed);

        // The factory is not left broken: the next bind builds all three loops and serves.
        IConnectionListener listener = await transport.BindLoopbackAsync();
        using Socket client = await Transport.DirectFactory.ConnectAsync(listener);
        ConnectionContext connection = (await listener.AcceptAsync().AsTask().WaitAsync(Timeout))!;
        await connection.DisposeAsync();
    }

    [Fact]
    public void DescriptorZeroIsAnOrdinaryDescriptorThatIsClosedOnDispose()
    {
        // A process started with its stdin closed hands descriptor 0 to the first socket it opens. The
        // test makes 0 a listening socket (keeping the real stdin aside), lets the handle type own it,
        // and checks the port is released by the dispose.
        using var listening = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listening.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listening.Listen(1);
        var endPoint = (IPEndPoint)listening.LocalEndPoint!;
        int savedStdin = dup(0);
        Assert.True(savedStdin >= 0);
        try
        {
            Assert.Equal(0, dup2((int)listening.Handle, 0));
            listening.Close();
            Assert.Equal(0, SocketProbe.KernelAcceptQueueLength(endPoint.Port));

            var handle = new SafeFdHandle(0);
            Assert.False(handle.IsInvalid);
            handle.Dispose();

            Assert.Equal(-1, SocketProbe.KernelAcceptQueueLength(endPoint.Port));
        }
        finally
        {
            dup2(savedStdin, 0);
            close(savedStdin);
        }
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task ARelativeUnixSocketPathIsRemovedAtUnbindEvenAfterTheDirectoryChanged(string transport)
    {
        string bindDirectory = Directory.CreateTempSubdirectory("epoll-uds-bind-").FullName;
        string otherDirectory = Directory.CreateTempSubdirectory("epoll-uds-other-").FullName;
        string original = Directory.GetCurrentDirectory();
        await using TestServer server = await TestServer.StartAsync(transport, app => app.MapGet("/", () => "ok"));
        IConnectionListenerFactory factory = RawClient.ListenerFactory(server);
        try
        {
            Directory.SetCurrentDirectory(bindDirectory);
            IConnectionListener listener = await factory.BindAsync(new UnixDomainSocketEndPoint("relative.sock"));
            Assert.True(File.Exists(Path.Combine(bindDirectory, "relative.sock")));

            Directory.SetCurrentDirectory(otherDirectory);
            await listener.UnbindAsync();
            await listener.DisposeAsync();

            Assert.False(File.Exists(Path.Combine(bindDirectory, "relative.sock")), "The bound socket file was left behind.");
        }
        finally
        {
            Directory.SetCurrentDirectory(original);
            Directory.Delete(bindDirectory, recursive: true);
            Directory.Delete(otherDirectory, recursive: true);
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int dup(int fd);

    [DllImport("libc", SetLastError = true)]
    private static extern int dup2(int fd, int target);

    [DllImport("libc", SetLastError = true)]
    private static extern int close(int fd);
}
