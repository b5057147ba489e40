using System.Net;
using System.Net.Sockets;
using System.Text;
using EpollTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace EpollTransport.Tests.Helpers;

/// <summary>
/// Small raw-socket helpers for conformance tests: connect, send, read to EOF, read one HTTP/1.1
/// response, all with deadlines so that a hang fails the test instead of stalling the run.
/// </summary>
public static class RawClient
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(15);

    public const string SocketsCategory = "Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets";
    public const string EpollCategory = "EpollTransport";

    /// <summary>The log category the given transport writes its events under.</summary>
    public static string TransportCategory(string transport) => transport == Transports.Sockets ? SocketsCategory : EpollCategory;

    public static bool IsTransportCategory(string category) => category == SocketsCategory || category == EpollCategory;

    public static async Task<Socket> ConnectAsync(EndPoint endPoint, TimeSpan? timeout = null)
    {
        AddressFamily family = endPoint.AddressFamily;
        var socket = endPoint is UnixDomainSocketEndPoint
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(family, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using var cts = new CancellationTokenSource(timeout ?? DefaultTimeout);
            await socket.ConnectAsync(endPoint, cts.Token);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public static async Task SendAsync(Socket socket, ReadOnlyMemory<byte> data, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? DefaultTimeout);
        while (!data.IsEmpty)
        {
            int sent = await socket.SendAsync(data, SocketFlags.None, cts.Token);
            data = data[sent..];
        }
    }

    public static Task SendAsync(Socket socket, string ascii, TimeSpan? timeout = null)
        => SendAsync(socket, Encoding.ASCII.GetBytes(ascii), timeout);

    /// <summary>Reads until the peer's FIN (a 0-byte read). Socket errors propagate.</summary>
    public static async Task<byte[]> ReadToEndAsync(Socket socket, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? DefaultTimeout);
        var result = new MemoryStream();
        byte[] buffer = new byte[64 * 1024];
        while (true)
        {
            int read;
            try
            {
                read = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
            }
            catch (OperationCanceledException) when (cts.IsCancellationRequested)
            {
                throw new TimeoutException($"No EOF within {timeout ?? DefaultTimeout}; {result.Length} byte(s) received so far.");
            }
            if (read == 0)
            {
                return result.ToArray();
            }
            result.Write(buffer, 0, read);
        }
    }

    /// <summary>
    /// Reads until EOF or a socket error. Returns the bytes received and the error (null for a clean EOF).
    /// </summary>
    public static async Task<(byte[] Data, SocketException? Error)> ReadUntilEndOrErrorAsync(Socket socket, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? DefaultTimeout);
        var result = new MemoryStream();
        byte[] buffer = new byte[16 * 1024];
        while (true)
        {
            int read;
            try
            {
                read = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
            }
            catch (SocketException ex)
            {
                return (result.ToArray(), ex);
            }
            catch (OperationCanceledException) when (cts.IsCancellationRequested)
            {
                throw new TimeoutException($"Neither EOF nor an error within {timeout ?? DefaultTimeout}; {result.Length} byte(s) received.");
            }
            if (read == 0)
            {
                return (result.ToArray(), null);
            }
            result.Write(buffer, 0, read);
        }
    }

    /// <summary>
    /// Reads exactly one HTTP/1.1 response with a Content-Length body (no chunked decoding) and
    /// returns the status code, the header block and the body.
    /// </summary>
    public static async Task<HttpResponse> ReadHttpResponseAsync(Socket socket, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? DefaultTimeout);
        var received = new List<byte>();
        byte[] buffer = new byte[16 * 1024];
        int headerEnd = -1;
        while (headerEnd < 0)
        {
            int read = await ReceiveOrTimeoutAsync(socket, buffer, cts, received.Count);
            if (read == 0)
            {
                throw new IOException($"EOF before the end of the response headers; got: {Encoding.ASCII.GetString(received.ToArray())}");
            }
            received.AddRange(buffer.AsSpan(0, read));
            headerEnd = IndexOfHeaderEnd(received);
        }

        string head = Encoding.ASCII.GetString(received.GetRange(0, headerEnd).ToArray());
        string[] lines = head.Split("\r\n");
        int status = int.Parse(lines[0].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (string line in lines.Skip(1))
        {
            int colon = line.IndexOf(':');
            headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
        }
        long length = headers.TryGetValue("Content-Length", out string? value) ? long.Parse(value, System.Globalization.CultureInfo.InvariantCulture) : 0;
        var body = new MemoryStream();
        body.Write(received.ToArray(), headerEnd + 4, received.Count - headerEnd - 4);
        while (body.Length < length)
        {
            int read = await ReceiveOrTimeoutAsync(socket, buffer, cts, (int)body.Length);
            if (read == 0)
            {
                throw new IOException($"EOF after {body.Length} of {length} body bytes.");
            }
            body.Write(buffer, 0, read);
        }
        if (body.Length > length)
        {
            throw new IOException($"Received {body.Length - length} byte(s) beyond the response body.");
        }
        return new HttpResponse(status, headers, body.ToArray());
    }

    private static async Task<int> ReceiveOrTimeoutAsync(Socket socket, byte[] buffer, CancellationTokenSource cts, int soFar)
    {
        try
        {
            return await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException($"Timed out reading an HTTP response after {soFar} byte(s).");
        }
    }

    private static int IndexOfHeaderEnd(List<byte> data)
    {
        for (int i = 3; i < data.Count; i++)
        {
            if (data[i - 3] == '\r' && data[i - 2] == '\n' && data[i - 1] == '\r' && data[i] == '\n')
            {
                return i - 3;
            }
        }
        return -1;
    }

    /// <summary>Sends "GET {path}" and reads the one response.</summary>
    public static async Task<HttpResponse> GetAsync(Socket socket, string path = "/", bool close = false)
    {
        await SendAsync(socket, $"GET {path} HTTP/1.1\r\nHost: test\r\n{(close ? "Connection: close\r\n" : "")}\r\n");
        return await ReadHttpResponseAsync(socket);
    }

    /// <summary>Polls <paramref name="condition"/> until it holds or the deadline passes (then throws).</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, Func<string> describe)
    {
        DateTime deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Condition not met within {timeout}: {describe()}");
            }
            await Task.Delay(10);
        }
    }

    /// <summary>Waits (with a deadline) for a log record that matches.</summary>
    public static async Task<LogRecord> WaitForLogAsync(LogRecorder logs, Func<LogRecord, bool> match, TimeSpan timeout)
    {
        LogRecord? found = null;
        await WaitUntilAsync(() => (found = logs.Records.FirstOrDefault(match)) is not null, timeout,
            () => "no matching log record; recorded: " + string.Join(" | ", logs.Records.TakeLast(20).Select(r => $"{r.Category}[{r.EventId.Id}] {r.Message}")));
        return found!;
    }

    public static string Describe(IEnumerable<LogRecord> records)
        => string.Join(Environment.NewLine, records.Select(r => $"{r.Level} {r.Category}[{r.EventId.Id}] {r.Message} {r.Exception?.GetType().Name}: {r.Exception?.Message}"));

    /// <summary>The epoll factory Kestrel uses in <paramref name="server"/>, if any.</summary>
    public static EpollTransportFactory? EpollFactory(TestServer server)
        => server.App.Services.GetServices<IConnectionListenerFactory>().OfType<EpollTransportFactory>().FirstOrDefault();

    /// <summary>The epoll loops' counters, for failure messages ("" for Sockets).</summary>
    public static string DescribeLoops(TestServer server)
        => EpollFactory(server) is { } factory ? string.Join("; ", factory.GetLoopCounters()) : "";

    /// <summary>"id name: count" for every transport event recorded, for failure messages.</summary>
    public static string CountTransportEvents(LogRecorder logs)
        => string.Join(", ", logs.Records.Where(r => IsTransportCategory(r.Category))
            .GroupBy(r => (r.EventId.Id, r.EventId.Name)).OrderBy(g => g.Key.Id)
            .Select(g => $"{g.Key.Id} {g.Key.Name}: {g.Count()}"));

    /// <summary>Records of the transport categories above Debug (a client's reset must not be louder).</summary>
    public static LogRecord[] TransportRecordsAboveDebug(LogRecorder logs)
        => logs.Records.Where(r => IsTransportCategory(r.Category) && r.Level > LogLevel.Debug).ToArray();

    /// <summary>Deterministic pseudo-random bytes for stream <paramref name="seed"/>.</summary>
    public static byte[] Payload(int seed, int length)
    {
        byte[] data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }
}

public sealed record HttpResponse(int StatusCode, IReadOnlyDictionary<string, string> Headers, byte[] Body)
{
    public string BodyText => Encoding.UTF8.GetString(Body);
}
