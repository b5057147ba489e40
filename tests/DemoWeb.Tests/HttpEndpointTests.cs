using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace DemoWeb.Tests;

public class HttpEndpointTests
{
    [Fact]
    public async Task PlaintextAndJsonHaveTheTechEmpowerShapes()
    {
        await using var server = await DemoServer.StartAsync();
        using var client = server.CreateClient(server.Http);

        using var plaintext = await client.GetAsync("/plaintext");
        Assert.Equal("text/plain", plaintext.Content.Headers.ContentType?.MediaType);
        Assert.Equal("Hello, World!", await plaintext.Content.ReadAsStringAsync());

        using var json = await client.GetAsync("/json");
        Assert.Equal("application/json", json.Content.Headers.ContentType?.MediaType);
        Assert.Equal("{\"message\":\"Hello, World!\"}", await json.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task BlockSleepsForTheAskedTimeAndRejectsOutOfRangeValuesAndProcessNamesTheProcess()
    {
        await using var server = await DemoServer.StartAsync("--scheduling", "inline");
        using var client = server.CreateClient(server.Http);

        var clock = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal("blocked 50 ms", await client.GetStringAsync("/block?ms=50"));
        Assert.True(clock.ElapsedMilliseconds >= 50, $"answered after {clock.ElapsedMilliseconds} ms");

        // A second at most: the longest accepted, then the shortest refused, with the range in the answer.
        clock.Restart();
        Assert.Equal("blocked 1000 ms", await client.GetStringAsync("/block?ms=1000"));
        Assert.True(clock.ElapsedMilliseconds >= 1000, $"answered after {clock.ElapsedMilliseconds} ms");
        foreach (int refused in new[] { 1001, 10_000, -1 })
        {
            clock.Restart();
            using var outOfRange = await client.GetAsync($"/block?ms={refused}");
            Assert.Equal(HttpStatusCode.BadRequest, outOfRange.StatusCode);
            Assert.Contains($"ms must be between 0 and 1000; it was {refused}", await outOfRange.Content.ReadAsStringAsync());
            // Refused before it slept.
            Assert.True(clock.ElapsedMilliseconds < 1000, $"the refusal of {refused} took {clock.ElapsedMilliseconds} ms");
        }

        Assert.Equal(Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture), await client.GetStringAsync("/process"));
    }

    [Fact]
    public async Task EchoStreamsAnEightMiBBodyBackOverHttp11()
    {
        await using var server = await DemoServer.StartAsync();
        byte[] body = RandomNumberGenerator.GetBytes(8 * 1024 * 1024);
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, server.Http.Port);

        // The echo streams: the response flows while the upload is still going, so the client must
        // send and receive at the same time (HttpClient's HTTP/1.1 would finish sending first and stall).
        byte[] head = Encoding.ASCII.GetBytes($"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n");
        Task send = Task.Run(async () =>
        {
            await socket.SendAsync(head);
            await socket.SendAsync(body);
        });
        var received = new MemoryStream();
        var buffer = new byte[65536];
        int n;
        while ((n = await socket.ReceiveAsync(buffer.AsMemory()).AsTask().WaitAsync(TimeSpan.FromSeconds(30))) > 0)
        {
            received.Write(buffer, 0, n);
        }
        await send;

        byte[] response = received.ToArray();
        int headerEnd = response.AsSpan().IndexOf("\r\n\r\n"u8) + 4;
        Assert.StartsWith("HTTP/1.1 200", Encoding.ASCII.GetString(response, 0, 12));
        Assert.Equal(SHA256.HashData(body), SHA256.HashData(response.AsSpan(headerEnd)));
    }

    [Theory]
    [InlineData("epoll")]
    [InlineData("sockets")]
    public async Task UploadCountsABodyPastKestrelsDefaultLimitThroughA64ByteReadBuffer(string transport)
    {
        // 32 MiB is past Kestrel's default 30 MB request body limit, which /upload lifts; the 64-byte read
        // buffer makes the transport pause and resume after almost every read, as the upload benchmark does.
        await using var server = await DemoServer.StartAsync("--transport", transport, "--max-read-buffer", "64");
        using var client = server.CreateClient(server.Http);
        byte[] body = RandomNumberGenerator.GetBytes(32 * 1024 * 1024);

        using var response = await client.PostAsync("/upload", new ByteArrayContent(body));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(body.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task ServesHttp2PriorKnowledgeOnTheH2cPortAndHttp2OverTls()
    {
        await using var server = await DemoServer.StartAsync();

        using (var h2c = server.CreateClient(server.H2c, HttpVersion.Version20))
        {
            var responses = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => h2c.GetAsync("/plaintext")));
            Assert.All(responses, r => Assert.Equal(HttpVersion.Version20, r.Version));
            Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        }

        using var tls = server.CreateClient(server.Https, HttpVersion.Version20);
        using var json = await tls.GetAsync("/json");
        Assert.Equal(HttpVersion.Version20, json.Version);
        Assert.Equal("{\"message\":\"Hello, World!\"}", await json.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task WebSocketEchoesTextAndBinary()
    {
        await using var server = await DemoServer.StartAsync();
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{server.Http.Port}/ws"), CancellationToken.None);

        foreach (var (type, payload) in new[] { (WebSocketMessageType.Text, Encoding.UTF8.GetBytes("hello epoll")), (WebSocketMessageType.Binary, RandomNumberGenerator.GetBytes(100_000)) })
        {
            await socket.SendAsync(payload, type, endOfMessage: true, CancellationToken.None);
            var received = new MemoryStream();
            var buffer = new byte[8192];
            ValueWebSocketReceiveResult result;
            do
            {
                result = await socket.ReceiveAsync(buffer.AsMemory(), CancellationToken.None);
                received.Write(buffer, 0, result.Count);
            }
            while (!result.EndOfMessage);
            Assert.Equal(type, result.MessageType);
            Assert.Equal(payload, received.ToArray());
        }
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, socket.CloseStatus);
    }

    [Fact]
    public async Task StatsReportTheTrafficPerLoopFromTheMeter()
    {
        await using var server = await DemoServer.StartAsync("--threads", "2");
        using var client = server.CreateClient(server.Http);
        JsonElement before = await StatsAsync(client);
        Assert.Equal("epoll", before.GetProperty("transport").GetString());
        Assert.Equal(2, before.GetProperty("loops").GetArrayLength());

        for (int i = 0; i < 10; i++)
        {
            using var fresh = server.CreateClient(server.Http);
            Assert.Equal("Hello, World!", await fresh.GetStringAsync("/plaintext"));
        }

        JsonElement after = await StatsAsync(client);
        long Total(JsonElement stats, string name) => stats.GetProperty("totals").GetProperty(name).GetInt64();
        Assert.True(Total(after, "connections.accepted") - Total(before, "connections.accepted") >= 10);
        Assert.True(Total(after, "bytes.received") - Total(before, "bytes.received") >= 10 * "GET /plaintext HTTP/1.1\r\n".Length);
        Assert.True(Total(after, "bytes.sent") > Total(before, "bytes.sent"));
        Assert.True(Total(after, "reads") > Total(before, "reads"));
    }

    [Fact]
    public async Task OverSocketsTheStatsSayThereAreNoEpollLoops()
    {
        await using var server = await DemoServer.StartAsync("--transport", "sockets", "--inline", "true");
        using var client = server.CreateClient(server.Http);
        Assert.Equal("Hello, World!", await client.GetStringAsync("/plaintext"));
        JsonElement stats = await StatsAsync(client);
        Assert.Equal("sockets", stats.GetProperty("transport").GetString());
        Assert.Equal(0, stats.GetProperty("loops").GetArrayLength());
    }

    [Fact]
    public async Task OneDemoEndpointsConfiguresKestrelAndDescribesTheBoundAddresses()
    {
        await using var server = await DemoServer.StartAsync();

        // A second, type-based registration would be a different instance that Kestrel never configured.
        DemoEndpoints endpoints = Assert.Single(server.App.Services.GetServices<DemoEndpoints>());
        Assert.Equal(["http", "echo", "h2c", "https"], endpoints.Describe().Select(e => e.Role));
        Assert.All(server.Endpoints.Values, address => Assert.NotEqual(0, address.Port));
    }

    private static async Task<JsonElement> StatsAsync(HttpClient client)
        => JsonDocument.Parse(await client.GetStringAsync("/stats")).RootElement.Clone();
}
