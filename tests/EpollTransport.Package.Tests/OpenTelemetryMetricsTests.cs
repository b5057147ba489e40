using System.Diagnostics.Metrics;
using System.Net;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using Xunit;

namespace EpollTransport.Package.Tests;

/// <summary>
/// The transport's instruments as an OpenTelemetry user gets them: `AddMeter("EpollTransport")` on a
/// real Kestrel server over the epoll transport, read back through the in-memory exporter.
/// </summary>
public sealed class OpenTelemetryMetricsTests
{
    private const string MeterName = "EpollTransport";
    private const string LoopTag = "epolltransport.loop";
    private const int Loops = 2;

    /// <summary>
    /// Every instrument of src/EpollTransport/Diagnostics/EpollTransportMetrics.cs, its unit and kind:
    /// the published contract (dashboards and alerts are keyed on these names).
    /// </summary>
    public static readonly IReadOnlyDictionary<string, (string Unit, MetricType Type)> Instruments = new Dictionary<string, (string, MetricType)>
    {
        ["epolltransport.connections.current"] = ("{connection}", MetricType.LongSumNonMonotonic),
        ["epolltransport.connections.accepted"] = ("{connection}", MetricType.LongSum),
        ["epolltransport.connections.refused"] = ("{connection}", MetricType.LongSum),
        ["epolltransport.bytes.received"] = ("By", MetricType.LongSum),
        ["epolltransport.bytes.sent"] = ("By", MetricType.LongSum),
        ["epolltransport.reads"] = ("{call}", MetricType.LongSum),
        ["epolltransport.writes"] = ("{call}", MetricType.LongSum),
        ["epolltransport.epoll.wakeups"] = ("{wakeup}", MetricType.LongSum),
        ["epolltransport.held_sends.timed_out"] = ("{send}", MetricType.LongSum),
        ["epolltransport.quiet_inline.runs"] = ("{continuation}", MetricType.LongSum),
        ["epolltransport.loop.handoffs"] = ("{handoff}", MetricType.LongSum),
    };

    [Fact]
    public async Task EveryInstrumentExportsWithItsNameUnitDescriptionAndALoopTag()
    {
        var exported = new List<MetricSnapshot>();
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { EnvironmentName = "Testing" });
        builder.Logging.ClearProviders();
        builder.WebHost.UseEpollTransport(o => o.ThreadCount = Loops);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        // The recipe a user follows; the in-memory exporter stands in for OTLP or Prometheus.
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics.AddMeter(MeterName).AddInMemoryExporter(exported));
        await using WebApplication app = builder.Build();
        app.MapGet("/", () => "Hello World!");
        await app.StartAsync();

        // What the meter actually publishes, seen directly, so an instrument added to the transport but
        // not to the table above fails here rather than going unchecked.
        var published = new Dictionary<string, Instrument>();
        var meterFactory = app.Services.GetRequiredService<IMeterFactory>();
        using (var listener = new MeterListener())
        {
            listener.InstrumentPublished = (instrument, _) =>
            {
                if (instrument.Meter.Name == MeterName && ReferenceEquals(instrument.Meter.Scope, meterFactory))
                {
                    published[instrument.Name] = instrument;
                }
            };
            listener.Start();
        }
        Assert.Equal(Instruments.Keys.Order(), published.Keys.Order());

        // Three keep-alive connections, still open when the metrics are read, and a few requests each.
        const int connections = 3;
        const int requestsEach = 5;
        Uri address = new(app.Urls.First());
        var clients = Enumerable.Range(0, connections).Select(_ => new HttpClient(new SocketsHttpHandler()) { BaseAddress = address }).ToArray();
        try
        {
            foreach (HttpClient client in clients)
            {
                for (int i = 0; i < requestsEach; i++)
                {
                    Assert.Equal("Hello World!", await client.GetStringAsync("/"));
                }
            }

            MeterProvider provider = app.Services.GetRequiredService<MeterProvider>();
            Assert.True(provider.ForceFlush(10_000), "The meter provider did not flush within 10 s.");
        }
        finally
        {
            foreach (HttpClient client in clients)
            {
                client.Dispose();
            }
        }

        // The exporter holds one snapshot per instrument per collection; the flush above was the first.
        var byName = exported.GroupBy(m => m.Name).ToDictionary(g => g.Key, g => g.Last());
        Assert.Equal(Instruments.Keys.Order(), byName.Keys.Order());
        var totals = new Dictionary<string, long>();
        foreach (var (name, (unit, type)) in Instruments)
        {
            MetricSnapshot metric = byName[name];
            Assert.Equal(MeterName, metric.MeterName);
            Assert.Equal(unit, metric.Unit);
            Assert.Equal(type, metric.MetricType);
            Assert.False(string.IsNullOrWhiteSpace(metric.Description), $"{name} has no description.");
            Assert.Equal(published[name].Description, metric.Description);

            // One point per loop, each tagged with that loop's index and nothing else.
            var loops = new List<int>();
            long total = 0;
            foreach (MetricPoint point in metric.MetricPoints)
            {
                var tags = new List<KeyValuePair<string, object?>>();
                foreach (KeyValuePair<string, object?> tag in point.Tags)
                {
                    tags.Add(tag);
                }
                KeyValuePair<string, object?> loopTag = Assert.Single(tags);
                Assert.Equal(LoopTag, loopTag.Key);
                loops.Add(Assert.IsType<int>(loopTag.Value));
                total += point.GetSumLong();
            }
            Assert.Equal(Enumerable.Range(0, Loops), loops.Order());
            totals[name] = total;
        }

        string values = string.Join(", ", totals.Select(t => $"{t.Key}={t.Value}"));
        Assert.True(totals["epolltransport.connections.current"] >= connections, values);
        Assert.True(totals["epolltransport.connections.accepted"] >= connections, values);
        Assert.True(totals["epolltransport.reads"] >= connections * requestsEach, values);
        Assert.True(totals["epolltransport.writes"] >= connections * requestsEach, values);
        Assert.True(totals["epolltransport.bytes.received"] > 0, values);
        Assert.True(totals["epolltransport.bytes.sent"] >= connections * requestsEach * "Hello World!".Length, values);
        Assert.True(totals["epolltransport.epoll.wakeups"] > 0, values);
        // Nothing here blocks a loop or nears the descriptor limit.
        Assert.Equal(0, totals["epolltransport.connections.refused"]);
        Assert.Equal(0, totals["epolltransport.loop.handoffs"]);
        Assert.Equal(0, totals["epolltransport.held_sends.timed_out"]);

        await app.StopAsync();
    }

    /// <summary>
    /// OpenTelemetry's naming rules, as semantic conventions apply them: lowercase, dot-separated,
    /// namespaced by the meter, snake_case only inside a segment, no "_total" or ".count", and UCUM
    /// units ("By" for bytes, a braced annotation such as "{connection}" for counts).
    /// </summary>
    [Fact]
    public void InstrumentNamesAndUnitsFollowOpenTelemetryConventions()
    {
        // The instruments exist from the factory's construction on: no server is needed to see them.
        using ServiceProvider services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var meterFactory = services.GetRequiredService<IMeterFactory>();
        using var factory = new EpollTransportFactory(Options.Create(new EpollTransportOptions()), NullLoggerFactory.Instance, null, meterFactory);
        var published = new List<Instrument>();
        using (var listener = new MeterListener())
        {
            listener.InstrumentPublished = (instrument, _) =>
            {
                if (ReferenceEquals(instrument.Meter.Scope, meterFactory))
                {
                    published.Add(instrument);
                }
            };
            listener.Start();
        }

        Assert.Equal(Instruments.Count, published.Count);
        foreach (Instrument instrument in published)
        {
            string name = instrument.Name;
            string unit = instrument.Unit ?? "";
            Assert.Equal(MeterName, instrument.Meter.Name);
            Assert.Matches(new Regex(@"^epolltransport(\.[a-z][a-z0-9]*(_[a-z0-9]+)*)+$"), name);
            Assert.DoesNotMatch(new Regex(@"(_total|\.count|_count)$"), name);
            Assert.Matches(new Regex(@"^(By|\{[a-z]+\})$"), unit);
            // A count's annotation names one thing, in the singular: "{connection}", not "{connections}".
            Assert.False(unit.StartsWith('{') && unit.EndsWith("s}", StringComparison.Ordinal), $"{name}: {unit} should be singular.");
            Assert.True(Instruments.ContainsKey(name), $"{name} is not in the table of published instruments.");
        }
    }
}
