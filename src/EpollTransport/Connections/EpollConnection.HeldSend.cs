using System.Diagnostics;
using System.IO.Pipelines;
using EpollTransport.Loops;

namespace EpollTransport.Connections;

/// <summary>
/// Holding the send pump's wake-up while the application is mid-dispatch (see
/// <see cref="ApplicationDispatcher"/>). A held send leaves when the dispatch returns, or, if the
/// dispatch blocks (a synchronous wait for something the peer sends only after seeing our bytes), when
/// the loop finds it overdue; after such a time-out the rest of that dispatch sends at once.
/// </summary>
internal sealed partial class EpollConnection
{
    private InputPipeReader? _inputReader;
    private Action<object?>? _heldSend;
    private object? _heldSendState;
    private long _heldSince;
    private bool _holdingDisabled;

    /// <summary>
    /// The two pipes, and the application's end of the input: without inline scheduling the pipes get
    /// this connection's dispatcher and send scheduler, and the input end reports whether input is left;
    /// with safe inline scheduling they get the connection's own app scheduler.
    /// </summary>
    private (Pipe Input, Pipe Output, PipeReader ApplicationInput) CreatePipes(EpollLoop loop)
    {
        PipeOptions input = loop.InputPipeOptions;
        PipeOptions output = loop.OutputPipeOptions;
        if (loop.GuardsApplicationCode && loop.ApplicationSlot is { } slot)
        {
            // Safe inline: the connection's own scheduler, so a connection whose handler stalls the loop
            // can be moved to the thread pool alone (ConnectionAppScheduler).
            var scheduler = new Loops.ConnectionAppScheduler(slot);
            Pipe watchedInput = PipeWith(input, scheduler, input.WriterScheduler);
            return (watchedInput, PipeWith(output, output.ReaderScheduler, scheduler), watchedInput.Reader);
        }
        if (loop.Settings.RunsApplicationInline)
        {
            // The application runs on the loop thread, whose queued sends already wait for it to return.
            var inlineInput = new Pipe(input);
            return (inlineInput, new Pipe(output), inlineInput.Reader);
        }
        Pipe inputPipe = PipeWith(input, new ApplicationDispatcher(this, loop), input.WriterScheduler);
        Pipe outputPipe = PipeWith(output, new SendScheduler(this), output.WriterScheduler);
        _inputReader = new InputPipeReader(inputPipe.Reader);
        return (inputPipe, outputPipe, _inputReader);
    }

    /// <summary>A pipe with the loop's options but this connection's own schedulers.</summary>
    private static Pipe PipeWith(PipeOptions options, PipeScheduler readerScheduler, PipeScheduler writerScheduler) =>
        new(new PipeOptions(options.Pool, readerScheduler, writerScheduler,
            options.PauseWriterThreshold, options.ResumeWriterThreshold, options.MinimumSegmentSize, useSynchronizationContext: false));

    /// <summary>A new application dispatch starts. Thread-pool thread.</summary>
    public void BeginDispatch() => _holdingDisabled = false;

    /// <summary>
    /// Keeps the send pump's continuation until the dispatch returns, if the application is answering a
    /// batch (it left input unconsumed). Dispatching thread.
    /// </summary>
    public bool TryHoldSend(Action<object?> action, object? state)
    {
        if (Volatile.Read(ref _holdingDisabled) || _inputReader is not { InputLeft: true })
        {
            return false;
        }
        _heldSendState = state;
        _heldSince = Stopwatch.GetTimestamp();
        Volatile.Write(ref _heldSend, action);
        _loop.HeldSends.Watch(this, _heldSince);
        return true;
    }

    /// <summary>The dispatch returned: send what it held, on this thread. Dispatching thread.</summary>
    public void ReleaseHeldSend()
    {
        if (Interlocked.Exchange(ref _heldSend, null) is { } action)
        {
            RunSend(action, _heldSendState);
        }
    }

    /// <summary>
    /// The loop found the send held since <paramref name="heldSince"/> overdue: run it now and stop
    /// holding for the rest of this dispatch. Loop thread.
    /// </summary>
    public bool ReleaseOverdueSend(long heldSince)
    {
        if (Volatile.Read(ref _heldSince) != heldSince)
        {
            // Released already, and perhaps held again since: a newer watch entry covers that hold.
            return false;
        }
        Volatile.Write(ref _holdingDisabled, true);
        if (Interlocked.Exchange(ref _heldSend, null) is { } action)
        {
            _loop.RunWorkItem(action, _heldSendState);
            return true;
        }
        return false;
    }
}
