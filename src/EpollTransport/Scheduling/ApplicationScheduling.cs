using System.IO.Pipelines;
using EpollTransport.Connections;
using EpollTransport.Loops;

namespace EpollTransport.Scheduling;

/// <summary>
/// Where a loop's connections run application code, and what that asks of the loop. One type per mode:
/// <see cref="ThreadPoolScheduling"/> (the default), <see cref="InlineScheduling"/> (on the loop, with
/// the stall watchdog) and <see cref="UnsafeInlineScheduling"/>. The loop asks its mode for each
/// connection's pipes and calls the hooks below at fixed points of its turn; nothing else in the loop
/// or the connection depends on the mode.
/// </summary>
internal abstract class ApplicationScheduling
{
    protected ApplicationScheduling(EpollLoop loop) => Loop = loop;

    /// <summary>The loop whose connections this mode schedules (its pipes' schedulers reach it here).</summary>
    public EpollLoop Loop { get; }

    public static ApplicationScheduling For(EpollLoop loop, LoopScheduling mode) => mode switch
    {
        LoopScheduling.ThreadPool => new ThreadPoolScheduling(loop),
        LoopScheduling.Inline => new InlineScheduling(loop),
        LoopScheduling.UnsafeInline => new UnsafeInlineScheduling(loop),
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, "Unknown scheduling mode."),
    };

    /// <summary>The connection's two pipes, with this mode's schedulers, and the application's end of the input.</summary>
    public abstract ConnectionPipes CreatePipes(EpollConnection connection);

    /// <summary>Whether application work is waiting for the loop itself to run it (so the loop must not sleep).</summary>
    public virtual bool HasWorkForLoop => false;

    /// <summary>
    /// Whether application code runs on the loop thread: then the loop runs one connection's
    /// continuation and the sends it queued before it moves to the next connection of the batch.
    /// </summary>
    public virtual bool RunsOnLoop => false;

    /// <summary>Whether the loop may poll briefly before it sleeps (nothing of the application needs the core meanwhile). Loop owner.</summary>
    public virtual bool MayPollBeforeSleeping => false;

    /// <summary>The longest the loop may sleep with nothing else due, in milliseconds; -1 for no bound.</summary>
    public virtual int MaxSleepMilliseconds => -1;

    /// <summary>
    /// Runs the application work released so far (inline modes). False if the loop was taken over
    /// meanwhile: the calling thread must then leave the loop alone. Loop owner.
    /// </summary>
    public virtual bool RunWorkForLoop() => true;

    /// <summary>Once per turn, after reads and before queued work. Loop owner.</summary>
    public virtual void OnTurn()
    {
    }

    /// <summary>
    /// The watchdog has just taken the loop from a thread that is away in application code (the loop's
    /// next owner has not started yet); <paramref name="demote"/>: whether the connection it runs should
    /// leave the loop for good. Watchdog thread.
    /// </summary>
    public virtual void OnLoopTaken(bool demote)
    {
    }

    /// <summary>The loop is shutting down: from now on no application code runs on it. Loop owner.</summary>
    public virtual void OnLoopExiting()
    {
    }

    /// <summary>The input pipe: the loop writes (and is resumed through its own scheduler), the application reads.</summary>
    protected Pipe InputPipe(PipeScheduler applicationScheduler) => new(new PipeOptions(Loop.MemoryPool, applicationScheduler, Loop.Scheduler,
        Loop.Settings.MaxReadBufferSize, Loop.Settings.MaxReadBufferSize / 2, useSynchronizationContext: false));

    /// <summary>The output pipe: the application writes, the send pump reads through <paramref name="sendScheduler"/>.</summary>
    protected Pipe OutputPipe(PipeScheduler sendScheduler, PipeScheduler applicationScheduler) => new(new PipeOptions(Loop.MemoryPool, sendScheduler,
        applicationScheduler, Loop.Settings.MaxWriteBufferSize, Loop.Settings.MaxWriteBufferSize / 2, useSynchronizationContext: false));
}

/// <summary>A connection's pipes; <see cref="ApplicationInput"/> is what the application reads (it may wrap <c>Input.Reader</c>).</summary>
internal readonly record struct ConnectionPipes(Pipe Input, Pipe Output, PipeReader ApplicationInput);
