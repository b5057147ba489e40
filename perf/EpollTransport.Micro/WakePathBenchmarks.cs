using BenchmarkDotNet.Attributes;
using EpollTransport.Interop;
using static EpollTransport.Interop.LinuxConstants;

namespace EpollTransport.Micro;

/// <summary>
/// The two syscalls behind a cross-thread wake-up, set up as <see cref="Loops.EpollLoop"/> sets them up:
/// an eventfd registered edge-triggered (and never read back) in an epoll instance with room for 256
/// events. No thread blocks here, so the numbers are the syscall costs alone, without the scheduler's
/// thread switch that a real wake-up adds on top.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(MicroConfig))]
public class WakePathBenchmarks
{
    private const ulong WakeToken = ulong.MaxValue;

    private Epoll _epoll = null!;
    private WakeEvent _wake = null!;

    [GlobalSetup]
    public void Setup()
    {
        _epoll = new Epoll(256);
        _wake = new WakeEvent();
        Errno errno = _epoll.Add(_wake.Fd, EPOLLIN | EPOLLET, WakeToken);
        if (errno != Errno.None)
        {
            throw errno.ToSocketException("epoll_ctl(ADD eventfd)");
        }

        // Edge-triggered and unread: each write must be one new event, and nothing is left pending after it.
        if (_epoll.Wait(0) != 0 || SignalThenWait() != 1 || _epoll.Wait(0) != 0)
        {
            throw new InvalidOperationException("The eventfd does not behave as the loop expects (one event per write).");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _wake.Dispose();
        _epoll.Dispose();
    }

    /// <summary>
    /// What a producer pays in <c>WakeIfSleeping</c> when the loop sleeps: one eventfd write. Run back to
    /// back, the eventfd's event is already on the ready list after the first write, so this is the
    /// lower bound; <see cref="SignalThenWait"/> includes the first-write case.
    /// </summary>
    [Benchmark]
    public void Signal() => _wake.Signal();

    /// <summary>A loop turn that finds nothing ready: the floor of every <c>epoll_wait(0)</c> the loop makes with work left over.</summary>
    [Benchmark]
    public int WaitIdle() => _epoll.Wait(0);

    /// <summary>One complete wake, minus the thread switch: write the eventfd, then collect its event.</summary>
    [Benchmark]
    public int SignalThenWait()
    {
        _wake.Signal();
        return _epoll.Wait(0);
    }
}
