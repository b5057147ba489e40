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

    /// <summary>
    /// The on-CPU time the watchdog reads another thread's by (its CPU clock from the thread id): it
    /// grows by about the time a thread spins, and hardly at all while the thread sleeps; the same
    /// figure /proc/self/task/TID/schedstat gives, and -1 for a thread id that cannot exist.
    /// </summary>
    [Fact]
    public async Task AThreadsOnCpuTimeGrowsWhileItSpinsAndNotWhileItSleeps()
    {
        int tid = 0;
        using var spun = new ManualResetEventSlim();
        using var measuredSpin = new ManualResetEventSlim();
        using var slept = new ManualResetEventSlim();
        using var measuredSleep = new ManualResetEventSlim();
        var thread = new Thread(() =>
        {
            tid = ThreadState.CurrentThreadId();
            // Until 30 ms on a CPU by its own clock (a loaded box preempts it), or 5 s of wall time.
            long until = System.Diagnostics.Stopwatch.GetTimestamp() + 5 * System.Diagnostics.Stopwatch.Frequency;
            while (ThreadState.OnCpuNanoseconds(tid) < 30_000_000 && System.Diagnostics.Stopwatch.GetTimestamp() < until)
            {
            }
            spun.Set();
            measuredSpin.Wait(TimeSpan.FromSeconds(10));
            Thread.Sleep(50);
            slept.Set();
            measuredSleep.Wait(TimeSpan.FromSeconds(10));
        });
        thread.Start();
        Assert.True(spun.Wait(TimeSpan.FromSeconds(10)));
        long afterSpin = ThreadState.OnCpuNanoseconds(tid);
        long fromSchedstat = long.Parse(File.ReadAllText($"/proc/self/task/{tid}/schedstat").Split(' ')[0], CultureInfo.InvariantCulture);
        measuredSpin.Set();
        Assert.True(slept.Wait(TimeSpan.FromSeconds(10)));
        long afterSleep = ThreadState.OnCpuNanoseconds(tid);
        measuredSleep.Set();
        await Task.Run(thread.Join).WaitAsync(TimeSpan.FromSeconds(10));

        // 30 ms of spinning, and no more than the kernel's own count read just after.
        Assert.True(afterSpin >= 30_000_000 && afterSpin <= fromSchedstat, $"on CPU {afterSpin} ns after spinning; schedstat {fromSchedstat} ns");
        Assert.True(afterSleep - afterSpin < 20_000_000, $"on CPU {afterSleep - afterSpin} ns more across a 50 ms sleep");
        // No thread has an id above pid_max.
        int pidMax = int.Parse(File.ReadAllText("/proc/sys/kernel/pid_max").Trim(), CultureInfo.InvariantCulture);
        Assert.Equal(-1, ThreadState.OnCpuNanoseconds(pidMax + 1));
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
