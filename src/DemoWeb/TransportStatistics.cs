using System.Diagnostics.Metrics;

namespace DemoWeb;

/// <summary>
/// Reads the transport's counters the way any metrics tool would: a <see cref="MeterListener"/> on the
/// "EpollTransport" meter, asked to observe its instruments on demand. Nothing here talks to the
/// transport directly, so /stats also proves the instruments work.
/// </summary>
public sealed class TransportStatistics : IDisposable
{
    private const string MeterName = "EpollTransport";
    private const string LoopTag = "epolltransport.loop";

    private readonly MeterListener _listener = new();
    private readonly object _gate = new();
    private SortedDictionary<int, Dictionary<string, long>> _collecting = new();

    /// <param name="meterFactory">This app's meter factory: only its "EpollTransport" meter is read, not
    /// those of other servers that may share the process (tests run several).</param>
    public TransportStatistics(IMeterFactory meterFactory)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == MeterName && ReferenceEquals(instrument.Meter.Scope, meterFactory))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>(OnMeasurement);
        _listener.Start();
    }

    /// <summary>One observation of every instrument: per-loop values and their totals.</summary>
    public StatsSnapshot Collect(string transport)
    {
        SortedDictionary<int, Dictionary<string, long>> loops;
        lock (_gate)
        {
            _collecting = new SortedDictionary<int, Dictionary<string, long>>();
            _listener.RecordObservableInstruments();
            loops = _collecting;
        }

        var perLoop = loops.Select(pair => new LoopStats(pair.Key, pair.Value)).ToArray();
        var totals = new Dictionary<string, long>();
        foreach (LoopStats loop in perLoop)
        {
            foreach (var (name, value) in loop.Values)
            {
                totals[name] = totals.GetValueOrDefault(name) + value;
            }
        }
        return new StatsSnapshot(transport, DateTimeOffset.UtcNow, perLoop, totals);
    }

    private void OnMeasurement(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        int loop = 0;
        foreach (var tag in tags)
        {
            if (tag.Key == LoopTag && tag.Value is int index)
            {
                loop = index;
            }
        }
        // Short names for the page: "epolltransport.bytes.received" → "bytes.received".
        string name = instrument.Name.StartsWith("epolltransport.", StringComparison.Ordinal) ? instrument.Name["epolltransport.".Length..] : instrument.Name;
        if (!_collecting.TryGetValue(loop, out Dictionary<string, long>? values))
        {
            _collecting[loop] = values = new Dictionary<string, long>();
        }
        values[name] = value;
    }

    public void Dispose() => _listener.Dispose();
}

public sealed record LoopStats(int Loop, IReadOnlyDictionary<string, long> Values);

public sealed record StatsSnapshot(string Transport, DateTimeOffset Time, IReadOnlyList<LoopStats> Loops, IReadOnlyDictionary<string, long> Totals);
