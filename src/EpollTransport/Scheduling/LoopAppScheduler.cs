using System.Collections.Concurrent;
using System.IO.Pipelines;
using EpollTransport.Loops;

namespace EpollTransport.Scheduling;

/// <summary>
/// The application side's <see cref="PipeScheduler"/> in the inline modes. Application continuations
/// run on the loop thread, but never nested inside the pipe call that released them: transport code
/// only appends them to the loop's app slot, and the loop runs the slot between its own steps, when
/// every connection's transport state is consistent (a flush that returned has been booked). That is
/// what lets another thread take the loop over while a continuation blocks: nothing of the transport
/// is left half-done on the blocked thread's stack.
/// </summary>
internal sealed class LoopAppScheduler : PipeScheduler
{
    private readonly EpollLoop _loop;

    // Owner only: continuations released by transport code, in order.
    private readonly Queue<Work> _slot = new();

    // Anyone else (another thread, or application code on the loop thread, which may lose the loop at
    // any moment and so must behave like any other thread).
    private readonly ConcurrentQueue<Work> _inbox = new();
    private volatile bool _exited;

    public LoopAppScheduler(EpollLoop loop) => _loop = loop;

    /// <summary>Whether the loop has nothing of the application's to run. Owner.</summary>
    public bool IsEmpty => _slot.Count == 0 && _inbox.IsEmpty;

    public override void Schedule(Action<object?> action, object? state) => Schedule(action, state, owner: null);

    /// <summary>
    /// Appends a continuation of the connection whose scheduler is <paramref name="owner"/> (null when it
    /// belongs to no connection in particular), so a stall during it can be blamed on that connection.
    /// </summary>
    public void Schedule(Action<object?> action, object? state, ConnectionAppScheduler? owner)
    {
        if (_exited)
        {
            System.Threading.ThreadPool.UnsafeQueueUserWorkItem(action, state, preferLocal: false);
            return;
        }
        if (_loop.IsOwnerInTransportCode)
        {
            _slot.Enqueue(new Work(action, state, owner));
            return;
        }
        _inbox.Enqueue(new Work(action, state, owner));
        // Same hand-off as LoopScheduler: Enqueue is a full fence, so either we see the exit or the
        // loop's final drain sees our item.
        if (_exited)
        {
            DrainToThreadPool();
        }
        else
        {
            _loop.WakeIfSleeping();
        }
    }

    /// <summary>
    /// Takes the next continuation to run. Owner. The slot comes first; the inbox gives at most as many
    /// as it held when the slot ran dry, so a busy producer cannot keep the loop here forever.
    /// </summary>
    public bool TryTake(ref int inboxBudget, out Action<object?> action, out object? state, out ConnectionAppScheduler? owner)
    {
        if (_slot.TryDequeue(out Work work) || (inboxBudget-- > 0 && _inbox.TryDequeue(out work)))
        {
            (action, state, owner) = (work.Action, work.State, work.Owner);
            return true;
        }
        (action, state, owner) = (null!, null, null);
        return false;
    }

    public int InboxCount => _inbox.Count;

    /// <summary>
    /// The loop is shutting down: from now on application continuations run on the thread pool, like
    /// the ones still waiting here. Owner.
    /// </summary>
    public void MarkExited()
    {
        _exited = true;
        Interlocked.MemoryBarrier();
        while (_slot.TryDequeue(out Work work))
        {
            System.Threading.ThreadPool.UnsafeQueueUserWorkItem(work.Action, work.State, preferLocal: false);
        }
        DrainToThreadPool();
    }

    private void DrainToThreadPool()
    {
        while (_inbox.TryDequeue(out Work work))
        {
            System.Threading.ThreadPool.UnsafeQueueUserWorkItem(work.Action, work.State, preferLocal: false);
        }
    }

    private readonly record struct Work(Action<object?> Action, object? State, ConnectionAppScheduler? Owner);
}
