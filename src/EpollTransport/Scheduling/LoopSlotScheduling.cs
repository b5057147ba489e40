using EpollTransport.Diagnostics;
using EpollTransport.Loops;

namespace EpollTransport.Scheduling;

/// <summary>
/// The inline modes' common part: application continuations wait in the loop's app slot
/// (<see cref="LoopAppScheduler"/>) and the loop runs them between its own steps. The response a
/// continuation produces is queued on the loop (the output pipe's reader scheduler is the loop's own),
/// and the loop sends it right after the continuation returns.
/// </summary>
internal abstract class LoopSlotScheduling : ApplicationScheduling
{
    protected LoopSlotScheduling(EpollLoop loop)
        : base(loop) => Slot = new LoopAppScheduler(loop);

    protected LoopAppScheduler Slot { get; }

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
