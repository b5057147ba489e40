using System.Net;
using System.Net.Sockets;
using System.Text;
using EpollTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace EpollTransport.Tests.Helpers.RawSockets;

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
    /// Reads exactly one HTTP/1.1 response (Content-Length or chunked body) and returns the status
    /// code, the headers and the body. Bytes beyond the response fail the read.
    /// </summary>
    public static async Task<RawResponse> ReadHttpResponseAsync(Socket socket, TimeSpan? timeout = null)
    {
        var reader = new BufferedReader(socket, timeout ?? DefaultTimeout);
        string statusLine = await reader.ReadLineAsync();
        int status = int.Parse(statusLine.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        while (await reader.ReadLineAsync() is { Length: > 0 } line)
        {
            int colon = line.IndexOf(':');
            headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
        }

        var body = new MemoryStream();
        if (headers.TryGetValue("Transfer-Encoding", out string? encoding) && encoding.Contains("chunked", StringComparison.OrdinalIgnoreCase))
        {
            while (true)
            {
                string sizeLine = await reader.ReadLineAsync();
                int size = int.Parse(sizeLine.Split(';')[0].Trim(), System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture);
                if (size == 0)
                {
                    while ((await reader.ReadLineAsync()).Length > 0)
                    {
                    }
                    break;
                }
                body.Write(await reader.ReadExactlyAsync(size));
                if ((await reader.ReadLineAsync()).Length != 0)
                {
                    throw new IOException("Malformed chunk terminator.");
                }
            }
        }
        else if (headers.TryGetValue("Content-Length", out string? value))
        {
            body.Write(await reader.ReadExactlyAsync(int.Parse(value, System.Globalization.CultureInfo.InvariantCulture)));
        }
        if (reader.Buffered > 0)
        {
            throw new IOException($"Received {reader.Buffered} byte(s) beyond the response.");
        }
        return new RawResponse(status, headers, body.ToArray());
    }

    /// <summary>Reads lines and exact counts from a socket, keeping what it over-reads for the next call.</summary>
    private sealed class BufferedReader(Socket socket, TimeSpan timeout)
    {
        private readonly CancellationTokenSource _cts = new(timeout);
        private readonly byte[] _buffer = new byte[64 * 1024];
        private int _start;
        private int _end;
        private long _total;

        public int Buffered => _end - _start;

        private async Task FillAsync()
        {
            if (_start == _end)
            {
                _start = _end = 0;
            }
            else if (_end == _buffer.Length)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }
            int read;
            try
            {
                read = await socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, _cts.Token);
            }
            catch (OperationCanceledException) when (_cts.IsCancellationRequested)
            {
                throw new TimeoutException($"Timed out reading an HTTP response after {_total} byte(s).");
            }
            if (read == 0)
            {
                throw new IOException($"EOF in the middle of an HTTP response after {_total} byte(s).");
            }
            _end += read;
            _total += read;
        }

        public async Task<string> ReadLineAsync()
        {
            while (true)
            {
                int newline = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
                if (newline >= 0)
                {
                    string line = Encoding.ASCII.GetString(_buffer, _start, newline - _start).TrimEnd('\r');
                    _start = newline + 1;
                    return line;
                }
                await FillAsync();
            }
        }

        public async Task<byte[]> ReadExactlyAsync(int count)
        {
            byte[] result = new byte[count];
            int filled = 0;
            while (filled < count)
            {
                if (_start == _end)
                {
                    await FillAsync();
                }
                int take = Math.Min(count - filled, _end - _start);
                Buffer.BlockCopy(_buffer, _start, result, filled, take);
                _start += take;
                filled += take;
            }
            return result;
        }
    }

    /// <summary>Sends "GET {path}" and reads the one response.</summary>
    public static async Task<RawResponse> GetAsync(Socket socket, string path = "/", bool close = false)
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

    /// <summary>
    /// Waits until <paramref name="progress"/> has not moved for <paramref name="quiet"/> while
    /// <paramref name="blocked"/> holds (e.g. a send or flush is pending); returns the stalled value.
    /// Throws when that does not happen before <paramref name="timeout"/>.
    /// </summary>
    public static async Task<long> WaitForStallAsync(Func<long> progress, Func<bool> blocked, TimeSpan quiet, TimeSpan timeout, Func<string> describe)
    {
        DateTime deadline = DateTime.UtcNow + timeout;
        long last = progress();
        DateTime lastChange = DateTime.UtcNow;
        while (true)
        {
            await Task.Delay(10);
            long now = progress();
            if (now != last || !blocked())
            {
                last = now;
                lastChange = DateTime.UtcNow;
            }
            else if (DateTime.UtcNow - lastChange >= quiet)
            {
                return now;
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"No stall within {timeout}: {describe()}");
            }
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

    /// <summary>The transport factory Kestrel resolves in <paramref name="server"/> (Sockets' or ours).</summary>
    public static IConnectionListenerFactory ListenerFactory(TestServer server)
        => server.App.Services.GetRequiredService<IConnectionListenerFactory>();

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

public sealed record RawResponse(int StatusCode, IReadOnlyDictionary<string, string> Headers, byte[] Body)
{
    public string BodyText => Encoding.UTF8.GetString(Body);
}
