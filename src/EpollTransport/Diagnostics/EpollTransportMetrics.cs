using System.Diagnostics.Metrics;

namespace EpollTransport.Diagnostics;

/// <summary>
/// The transport's instruments on the <c>EpollTransport</c> meter, one measurement per loop (tag
/// <c>epolltransport.loop</c>). They are observable: the loops keep plain counters and nothing is
/// recorded on the I/O path; a collector reads them when it asks.
/// </summary>
internal sealed class EpollTransportMetrics : IDisposable
{
    public const string MeterName = "EpollTransport";
    public const string LoopTag = "epolltransport.loop";

    private readonly Meter _meter;
    private readonly bool _ownsMeter;

    public EpollTransportMetrics(IMeterFactory? meterFactory, Func<IEnumerable<LoopCountersSnapshot>> snapshot)
    {
        _ownsMeter = meterFactory is null;
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);

        _meter.CreateObservableUpDownCounter("epolltransport.connections.current",
            () => Measure(snapshot, s => s.ConnectionsCurrent), "{connection}", "Connections each loop owns now.");
        _meter.CreateObservableCounter("epolltransport.connections.accepted",
            () => Measure(snapshot, s => s.ConnectionsAccepted), "{connection}", "Connections each loop has accepted.");
        _meter.CreateObservableCounter("epolltransport.connections.refused",
            () => Measure(snapshot, s => s.ConnectionsRefused), "{connection}",
            "Connections each loop reset at once because the process was within its descriptor reserve of RLIMIT_NOFILE.");
        _meter.CreateObservableCounter("epolltransport.bytes.received",
            () => Measure(snapshot, s => s.BytesReceived), "By", "Bytes read from sockets.");
        _meter.CreateObservableCounter("epolltransport.bytes.sent",
            () => Measure(snapshot, s => s.BytesSent), "By", "Bytes written to sockets.");
        _meter.CreateObservableCounter("epolltransport.reads",
            () => Measure(snapshot, s => s.Reads), "{call}", "Read system calls.");
        _meter.CreateObservableCounter("epolltransport.writes",
            () => Measure(snapshot, s => s.Writes), "{call}", "Write system calls.");
        _meter.CreateObservableCounter("epolltransport.epoll.wakeups",
            () => Measure(snapshot, s => s.Wakeups), "{wakeup}", "Times a loop returned from epoll_wait.");
        _meter.CreateObservableCounter("epolltransport.held_sends.timed_out",
            () => Measure(snapshot, s => s.HeldSendsTimedOut), "{send}",
            "Held sends a loop released because the application's dispatch blocked past the hold timeout.");
        _meter.CreateObservableCounter("epolltransport.quiet_inline.runs",
            () => Measure(snapshot, s => s.QuietInlineRuns), "{continuation}",
            "Application continuations a quiet loop ran itself instead of dispatching them to the thread pool.");
        _meter.CreateObservableCounter("epolltransport.loop.handoffs",
            () => Measure(snapshot, s => s.Handoffs), "{handoff}",
            "Times a loop moved to a spare thread because application code held its thread past the inline stall threshold.");
    }

    private static IEnumerable<Measurement<long>> Measure(Func<IEnumerable<LoopCountersSnapshot>> snapshot, Func<LoopCountersSnapshot, long> value)
    {
        foreach (LoopCountersSnapshot loop in snapshot())
        {
            yield return new Measurement<long>(value(loop), new KeyValuePair<string, object?>(LoopTag, loop.LoopIndex));
        }
    }

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }
}
