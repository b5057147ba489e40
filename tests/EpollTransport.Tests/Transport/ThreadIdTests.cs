using System.Globalization;
using ThreadState = EpollTransport.Interop.ThreadState;
using EpollTransport.Loops;
using EpollTransport.Tests.Helpers.RawSockets;
using EpollTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Xunit;

namespace EpollTransport.Tests.Transport;

/// <summary>
/// The kernel thread id the watchdog reads a stuck owner's state by (/proc/self/task/TID/stat). It comes
/// from the raw gettid system call, not glibc's gettid() wrapper (glibc 2.30+ only), so it is checked
/// against the kernel's own answer: /proc/thread-self, a link to "PID/task/TID" for whoever reads it.
/// </summary>
public class ThreadIdTests
{
    [Fact]
    public async Task TheThreadIdIsTheKernelsOnTheTestThreadAndOnADedicatedThread()
    {
        Assert.Equal(ThreadSelf(), ThreadState.CurrentThreadId());

        int fromSyscall = 0;
        int fromProc = 0;
        var thread = new Thread(() =>
        {
            fromSyscall = ThreadState.CurrentThreadId();
            fromProc = ThreadSelf();
        });
        thread.Start();
        await Task.Run(thread.Join).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(fromProc, fromSyscall);
        // A thread of its own, so a call that answered with the process id would fail here.
        Assert.NotEqual(Environment.ProcessId, fromSyscall);
        Assert.NotEqual(ThreadState.CurrentThreadId(), fromSyscall);
    }

    [Fact]
    public async Task EachLoopsTenureHoldsTheKernelIdOfThatLoopsThread()
    {
        await using TestServer server = await TestServer.StartAsync(Transports.Epoll, app => app.MapGet("/", () => "ok"));
        using HttpClient client = server.CreateClient();
        Assert.Equal("ok", await client.GetStringAsync("/"));

        EpollLoop[] loops = RawClient.EpollFactory(server)!.CurrentLoopGroup!.Loops;
        Assert.NotEmpty(loops);
        foreach (EpollLoop loop in loops)
        {
            int tid = loop.CurrentTenure.OsThreadId;
            // The kernel's name for that thread is the one the loop gave itself.
            Assert.Equal($"epoll loop {loop.Index}", File.ReadAllText($"/proc/self/task/{tid}/comm").TrimEnd('\n'));
        }
    }

    private static int ThreadSelf()
    {
        string link = new FileInfo("/proc/thread-self").LinkTarget ?? throw new InvalidOperationException("/proc/thread-self is not a link.");
        string[] parts = link.Split('/');
        Assert.Equal(3, parts.Length);
        Assert.Equal(Environment.ProcessId.ToString(CultureInfo.InvariantCulture), parts[0]);
        Assert.Equal("task", parts[1]);
        return int.Parse(parts[2], CultureInfo.InvariantCulture);
    }
}
