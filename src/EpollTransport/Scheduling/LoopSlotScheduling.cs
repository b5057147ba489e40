using EpollTransport.Diagnostics;
using EpollTransport.Loops;

namespace EpollTransport.Scheduling;

/// <summary>
/// What every mode that runs application code on the loop shares (the inline modes, and thread-pool
/// mode's quiet loop): application continuations wait in the loop's app slot
/// (<see cref="LoopAppScheduler"/>) and the loop runs them between its own steps. The response a
/// continuation produces is queued on the loop, and the loop sends it right after the continuation
/// returns.
/// </summary>
internal abstract class LoopSlotScheduling : ApplicationScheduling
{
    protected LoopSlotScheduling(EpollLoop loop)
        : base(loop) => Slot = new LoopAppScheduler(loop);

    protected LoopAppScheduler Slot { get; }

    /// <summary>The connection whose continuation the owner runs now (null between runs, or for none in particular).</summary>
    private ConnectionAppScheduler? _running;

    public override bool HasWorkForLoop => !Slot.IsEmpty;

    public override bool RunsOnLoop => true;

    /// <summary>
    /// Runs the continuations that transport steps released, each in its own stay in application code.
    /// False if the loop was taken over during one of them.
    /// </summary>
    public override bool RunWorkForLoop()
    {
        if (Slot.IsEmpty)
        {
            return true;
        }
        int inboxBudget = Slot.InboxCount;
        while (Slot.TryTake(ref inboxBudget, out Action<object?> action, out object? state, out ConnectionAppScheduler? owner))
        {
            if (!RunWatched(action, state, owner))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>From now on application continuations run on the thread pool, like those still waiting.</summary>
    public override void OnLoopExiting() => Slot.MarkExited();

    /// <summary>Runs one continuation; false if the loop was given to another thread meanwhile.</summary>
    protected abstract bool RunWatched(Action<object?> action, object? state, ConnectionAppScheduler? owner);

    /// <summary>
    /// Runs one continuation watched by the loop's tenure: if it holds the loop past the stall threshold,
    /// the watchdog gives the loop to a spare thread. False if that happened: everything of the loop is
    /// the new owner's now, including the rest of the slot, and the connection runs on the thread pool
    /// from then on if the watchdog demoted it (<see cref="OnLoopTaken"/>).
    /// </summary>
    protected bool RunUnderTenure(Action<object?> action, object? state, ConnectionAppScheduler? owner)
    {
        Tenure tenure = Loop.CurrentTenure;
        // Published by the release in EnterApplicationCode, for a watchdog that takes the loop.
        _running = owner;
        long entered = tenure.EnterApplicationCode();
        OnEnteredApplicationCode();
        Run(action, state);
        if (tenure.TryLeaveApplicationCode(entered))
        {
            _running = null;
            return true;
        }
        return false;
    }

    /// <summary>
    /// The connection whose continuation holds the stuck thread runs on the thread pool from now on, if
    /// the watchdog says so: demoted here, before the loop's next owner can read that connection's next
    /// request, because the stuck thread itself notices the loss only once its continuation returns.
    /// </summary>
    public override void OnLoopTaken(bool demote)
    {
        if (demote)
        {
            Volatile.Read(ref _running)?.Demote();
        }
    }

    /// <summary>Between entering application code and running the continuation. Loop owner.</summary>
    protected virtual void OnEnteredApplicationCode()
    {
    }

    protected void Run(Action<object?> action, object? state)
    {
        try
        {
            action(state);
        }
        catch (Exception ex)
        {
            // Pipe continuations of Kestrel and of async methods capture their own exceptions; anything
            // that escapes is the application's and must not end the loop.
            EpollTransportLog.LoopError(Loop.Logger, Loop.Index, ex);
        }
    }
}
