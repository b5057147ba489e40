using System.Buffers;
using System.IO.Pipelines;

namespace EpollTransport.Scheduling;

/// <summary>
/// The application's end of the input pipe without inline scheduling. It forwards everything and notes,
/// on each AdvanceTo, whether the application left input unconsumed: a pipelined batch still being
/// answered, which is when holding its sends until the dispatch returns pays off
/// (<see cref="SendScheduler"/>). A lone request consumes everything before its response is
/// flushed, and that flush is sent at once.
/// </summary>
internal sealed class InputPipeReader : PipeReader
{
    private readonly PipeReader _inner;
    private volatile bool _inputLeft;

    public InputPipeReader(PipeReader inner) => _inner = inner;

    /// <summary>Whether the last AdvanceTo left bytes behind that the application has yet to consume.</summary>
    public bool InputLeft => _inputLeft;

    public override void AdvanceTo(SequencePosition consumed)
    {
        _inner.AdvanceTo(consumed);
        _inputLeft = HasDataAfter(consumed);
    }

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        _inner.AdvanceTo(consumed, examined);
        _inputLeft = HasDataAfter(consumed);
    }

    public override void CancelPendingRead() => _inner.CancelPendingRead();

    public override void Complete(Exception? exception = null) => _inner.Complete(exception);

    public override ValueTask CompleteAsync(Exception? exception = null) => _inner.CompleteAsync(exception);

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default) => _inner.ReadAsync(cancellationToken);

    public override bool TryRead(out ReadResult result) => _inner.TryRead(out result);

    protected override ValueTask<ReadResult> ReadAtLeastAsyncCore(int minimumSize, CancellationToken cancellationToken)
        => _inner.ReadAtLeastAsync(minimumSize, cancellationToken);

    public override Task CopyToAsync(PipeWriter destination, CancellationToken cancellationToken = default)
        => _inner.CopyToAsync(destination, cancellationToken);

    public override Task CopyToAsync(Stream destination, CancellationToken cancellationToken = default)
        => _inner.CopyToAsync(destination, cancellationToken);

    private static bool HasDataAfter(SequencePosition consumed)
    {
        // The pipe's segments are ReadOnlySequenceSegments; the loop may be appending to them as we
        // look, which can only make us see more input left, and that only decides whether to hold.
        if (consumed.GetObject() is not ReadOnlySequenceSegment<byte> segment)
        {
            return false;
        }
        return consumed.GetInteger() < segment.Memory.Length || segment.Next is not null;
    }
}
