using System.Diagnostics;
using System.IO.Pipelines;
using EpollTransport.Connections;

namespace EpollTransport.Scheduling;

/// <summary>
/// Thread-pool mode: the output pipe's reader scheduler, which decides where a response leaves. The
/// pipe calls it when the application flushes and the send pump waits for output.
/// <list type="bullet">
/// <item>On a thread-pool thread outside this connection's dispatch, while the loop serves several
/// connections: at the end of that thread's work item (<see cref="EndOfWorkItemSend"/>), then as below,
/// so an HTTP/2 frame writer's burst leaves in one sendmsg.</item>
/// <item>Inside this connection's own dispatch, with input left (a pipelined batch): held until the
/// dispatch returns, so the batch's responses leave in one sendmsg (or, if the dispatch blocks, until
/// the loop finds the hold overdue).</item>
/// <item>The loop is asleep and none of its other dispatches is out (a quiet server): on the calling
/// thread, which produced the bytes. No eventfd write, no wake-up, no context switch.</item>
/// <item>The loop is asleep and other dispatches of it are out (a busy server between turns): queued
/// without waking the loop; the last dispatch to return wakes it once, and it sends every queued
/// response in one turn. One wake-up per burst, without the loop giving its core away to let the burst
/// gather (a busy host punishes that).</item>
/// <item>The loop is awake in its own work (or this is the loop in transport code, or a quiet loop's
/// continuation answering a pipelined batch): queued; it runs within the turn the loop is in.</item>
/// <item>This is a quiet loop's continuation with no request left behind it: on the calling thread (the
/// loop's), from inside the flush, before Kestrel's end-of-request work.</item>
/// <item>The loop's thread is away running a quiet loop's continuation for another connection: on the
/// calling thread, as if the loop slept; that continuation may compute for a while.</item>
/// </list>
/// </summary>
internal sealed class SendScheduler(EpollConnection connection, ThreadPoolScheduling scheduling) : PipeScheduler
{
    /// <summary>The connection whose application dispatch the calling thread is running, if any.</summary>
    [ThreadStatic]
    private static SendScheduler? t_dispatching;

    private InputPipeReader? _input;
    private EndOfWorkItemSend? _deferred;
    private Action<object?>? _held;
    private object? _heldState;
    private long _heldSince;
    private bool _holdingDisabled;

    /// <summary>Wraps the application's end of the input so holds can tell whether input is left.</summary>
    public PipeReader WatchInput(PipeReader input) => _input = new InputPipeReader(input);

    public override void Schedule(Action<object?> action, object? state)
    {
        if (t_dispatching == this)
        {
            if (!TryHold(action, state))
            {
                Send(action, state);
            }
        }
        else if (Thread.CurrentThread.IsThreadPoolThread && !scheduling.Loop.IsHeldByCallingThread && !scheduling.Loop.HasOneActiveRegistration)
        {
            // A pool thread outside this connection's dispatch (an HTTP/2 frame writer, a handler resumed
            // after an await) on a loop serving several connections: it tends to flush again before its
            // work item ends, one frame at a time. Sending each flush at once cost HTTP/2 a sendmsg per
            // response (h2c, 16 x 32 streams: 0.7-1.3 sends per request, 1.45x Sockets' CPU); at the end
            // of the work item one sendmsg carries the burst. Not for a quiet loop's one connection, where
            // the work item queued for it asks the pool for a worker and costs more than it saves.
            (_deferred ??= new EndOfWorkItemSend(Send)).Defer(action, state);
        }
        else
        {
            Send(action, state);
        }
    }

    private void Send(Action<object?> action, object? state)
    {
        var loop = scheduling.Loop;
        bool fromLoop = loop.IsHeldByCallingThread;
        if (fromLoop)
        {
            scheduling.AnsweredOnLoop();
            if (loop.IsInApplicationCode && _input is not { InputLeft: true })
            {
                // A quiet run's response, with no request left behind it: it leaves now, from inside the
                // flush, while Kestrel's end-of-request work (and TLS's) runs after it instead of before
                // it, overlapping the peer's turn. The send side is taken as any producing thread takes it.
                connection.SendOnCallingThread(action, state);
                return;
            }
            // The loop in transport code, or a quiet run answering a pipelined batch: the loop sends
            // once the step or continuation it runs returns, the batch in one sendmsg.
            loop.Scheduler.Schedule(action, state);
        }
        else if (!loop.IsSleeping && !loop.IsInApplicationCode)
        {
            // A loop awake in its own work, which runs the queue within the turn.
            loop.Scheduler.Schedule(action, state);
        }
        else if (scheduling.OtherDispatchesOut)
        {
            scheduling.QueueUntilDispatchesReturn(action, state);
        }
        else
        {
            connection.SendOnCallingThread(action, state);
        }
    }

    /// <summary>A dispatch of this connection starts on the calling thread (thread-pool thread).</summary>
    public SendScheduler? BeginDispatch()
    {
        _holdingDisabled = false;
        SendScheduler? outer = t_dispatching;
        t_dispatching = this;
        return outer;
    }

    /// <summary>The dispatch returned: send what it held, from this thread.</summary>
    public void EndDispatch(SendScheduler? outer)
    {
        t_dispatching = outer;
        if (Interlocked.Exchange(ref _held, null) is { } action)
        {
            Send(action, _heldState);
        }
    }

    /// <summary>Keeps the pump's continuation until the dispatch returns, if the application is answering a batch (it left input unconsumed).</summary>
    private bool TryHold(Action<object?> action, object? state)
    {
        if (Volatile.Read(ref _holdingDisabled) || _input is not { InputLeft: true })
        {
            return false;
        }
        _heldState = state;
        _heldSince = Stopwatch.GetTimestamp();
        Volatile.Write(ref _held, action);
        scheduling.WatchHold(this, _heldSince);
        return true;
    }

    /// <summary>
    /// The loop found the send held since <paramref name="heldSince"/> overdue: run it now and stop
    /// holding for the rest of this dispatch. Loop thread.
    /// </summary>
    public bool ReleaseOverdue(long heldSince)
    {
        if (Volatile.Read(ref _heldSince) != heldSince)
        {
            // Released already, and perhaps held again since: a newer watch entry covers that hold.
            return false;
        }
        Volatile.Write(ref _holdingDisabled, true);
        if (Interlocked.Exchange(ref _held, null) is { } action)
        {
            scheduling.Loop.RunWorkItem(action, _heldState);
            return true;
        }
        return false;
    }
}
