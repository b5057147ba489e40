using System.Collections.Concurrent;
using System.IO.Pipelines;

namespace EpollTransport.Loops;

/// <summary>
/// The IOQueue of one epoll loop: a <see cref="PipeScheduler"/> whose work runs on the loop thread, in
/// FIFO order, between epoll_wait calls. Pipe continuations of the transport side (output ready to
/// send, input unpaused) and cross-thread requests (abort) all arrive here, so every touch of a
/// connection's fd happens on its loop thread.
/// </summary>
internal sealed class LoopScheduler : PipeScheduler
{
    private readonly ConcurrentQueue<Work> _queue = new();
    private readonly EpollLoop _loop;
    private volatile bool _exited;
    private volatile bool _foreignWork;

    public LoopScheduler(EpollLoop loop) => _loop = loop;

    public bool IsEmpty => _queue.IsEmpty;

    public override void Schedule(Action<object?> action, object? state)
    {
        if (ScheduleWithoutWake(action, state) && !_loop.IsOwnerInTransportCode)
        {
            // Application code on the loop thread wakes the loop too: it may have lost the loop to a
            // new owner that is asleep (a volatile read while the loop is awake).
            _loop.WakeIfSleeping();
        }
    }

    /// <summary>
    /// Queues without waking the loop: for a caller that has made sure something else wakes it
    /// (<see cref="Scheduling.ThreadPoolScheduling.QueueUntilDispatchesReturn"/>). False if the loop has
    /// exited, in which case the work went to the thread pool.
    /// </summary>
    public bool ScheduleWithoutWake(Action<object?> action, object? state)
    {
        _queue.Enqueue(new Work(action, state));
        if (!_foreignWork && !_loop.IsHeldByCallingThread)
        {
            // Read first: under load every response is queued from some pool thread, and a store each
            // time would keep the line bouncing between cores for a flag that is already set.
            _foreignWork = true;
        }

        // Dekker-style hand-off with MarkExited: ConcurrentQueue.Enqueue is a full fence, so either we
        // see the loop has exited (and run the work elsewhere) or the loop's final drain sees our item.
        if (_exited)
        {
            DrainToThreadPool();
            return false;
        }
        return true;
    }

    /// <summary>
    /// Whether a thread that does not hold the loop queued work since the loop last called
    /// <see cref="ClearForeignWork"/>: the watchdog's sign that another connection waits for a loop whose
    /// thread is away in application code (work the loop's own thread queued, such as the response of the
    /// continuation it runs, is not). A hint, read from any thread.
    /// </summary>
    public bool HasForeignWork => _foreignWork;

    /// <summary>Owner, as it enters application code that it runs only because nothing else waited.</summary>
    public void ClearForeignWork() => _foreignWork = false;

    /// <summary>Takes the next queued item. Owner.</summary>
    public bool TryDequeue(out Action<object?> action, out object? state)
    {
        if (_queue.TryDequeue(out Work work))
        {
            (action, state) = (work.Action, work.State);
            return true;
        }
        (action, state) = (null!, null);
        return false;
    }

    /// <summary>After the loop thread has left its loop, work still arriving (late pipe continuations) runs on the thread pool.</summary>
    public void MarkExited()
    {
        _exited = true;
        Interlocked.MemoryBarrier();
        DrainToThreadPool();
    }

    private void DrainToThreadPool()
    {
        while (_queue.TryDequeue(out Work work))
        {
            System.Threading.ThreadPool.UnsafeQueueUserWorkItem(work.Action, work.State, preferLocal: false);
        }
    }

    private readonly record struct Work(Action<object?> Action, object? State);
}
