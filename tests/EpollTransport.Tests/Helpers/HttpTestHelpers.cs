using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Xunit;

namespace EpollTransport.Tests.Helpers;

/// <summary>A deterministic pseudo-random byte stream (xorshift64*), so a server and a client can agree on content.</summary>
public sealed class DeterministicData
{
    private ulong _state;
    private ulong _word;
    private int _wordBytesLeft;

    public DeterministicData(ulong seed)
    {
        _state = seed == 0 ? 0x9E3779B97F4A7C15UL : seed;
    }

    public void Fill(Span<byte> destination)
    {
        for (int i = 0; i < destination.Length; i++)
        {
            if (_wordBytesLeft == 0)
            {
                _state ^= _state >> 12;
                _state ^= _state << 25;
                _state ^= _state >> 27;
                _word = _state * 0x2545F4914F6CDD1DUL;
                _wordBytesLeft = 8;
            }
            destination[i] = (byte)_word;
            _word >>= 8;
            _wordBytesLeft--;
        }
    }

    public static byte[] Create(ulong seed, int length)
    {
        var data = new byte[length];
        new DeterministicData(seed).Fill(data);
        return data;
    }

    /// <summary>The SHA-256 (lower-case hex) of the first <paramref name="length"/> bytes for <paramref name="seed"/>.</summary>
    public static string Sha256Hex(ulong seed, long length)
    {
        var generator = new DeterministicData(seed);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] buffer = new byte[64 * 1024];
        while (length > 0)
        {
            int n = (int)Math.Min(buffer.Length, length);
            generator.Fill(buffer.AsSpan(0, n));
            hash.AppendData(buffer, 0, n);
            length -= n;
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>An ASCII string of <paramref name="length"/> printable characters derived from <paramref name="seed"/>.</summary>
    public static string AsciiText(ulong seed, int length)
    {
        byte[] raw = Create(seed, length);
        var chars = new char[length];
        for (int i = 0; i < length; i++)
        {
            chars[i] = (char)('a' + raw[i] % 26);
        }
        return new string(chars);
    }
}

public static class HashHelpers
{
    public static async Task<(string Hex, long Length)> Sha256Async(Stream stream, CancellationToken cancellationToken = default)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] buffer = new byte[64 * 1024];
        long total = 0;
        int n;
        while ((n = await stream.ReadAsync(buffer, cancellationToken)) > 0)
        {
            hash.AppendData(buffer, 0, n);
            total += n;
        }
        return (Convert.ToHexStringLower(hash.GetHashAndReset()), total);
    }

    public static async Task<(string Hex, long Length)> Sha256Async(PipeReader reader, CancellationToken cancellationToken = default)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long total = 0;
        while (true)
        {
            ReadResult result = await reader.ReadAsync(cancellationToken);
            foreach (ReadOnlyMemory<byte> segment in result.Buffer)
            {
                hash.AppendData(segment.Span);
                total += segment.Length;
            }
            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                break;
            }
        }
        return (Convert.ToHexStringLower(hash.GetHashAndReset()), total);
    }

    /// <summary>
    /// Reads <paramref name="response"/>'s body to its end (within <paramref name="timeout"/>, if given) and checks
    /// that it is exactly the first <paramref name="length"/> bytes of <see cref="DeterministicData"/> for <paramref name="seed"/>.
    /// </summary>
    public static async Task AssertDeterministicBodyAsync(HttpResponseMessage response, ulong seed, long length, TimeSpan? timeout = null)
    {
        await using Stream stream = await response.Content.ReadAsStreamAsync();
        (string hex, long received) = await Sha256Async(stream).WaitAsync(timeout ?? Timeout.InfiniteTimeSpan);
        Assert.Equal(length, received);
        Assert.Equal(DeterministicData.Sha256Hex(seed, length), hex);
    }
}

/// <summary>
/// An <see cref="HttpContent"/> that streams deterministic data and does not know its length, so
/// HttpClient sends it with <c>Transfer-Encoding: chunked</c> over HTTP/1.1.
/// </summary>
public sealed class DeterministicContent(ulong seed, long length, int writeSize, bool knownLength) : HttpContent
{
    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
    {
        var generator = new DeterministicData(seed);
        byte[] buffer = new byte[writeSize];
        long left = length;
        while (left > 0)
        {
            int n = (int)Math.Min(buffer.Length, left);
            generator.Fill(buffer.AsSpan(0, n));
            await stream.WriteAsync(buffer.AsMemory(0, n));
            left -= n;
        }
    }

    protected override bool TryComputeLength(out long length1)
    {
        length1 = length;
        return knownLength;
    }
}

/// <summary>A parsed HTTP/1.x response read off a raw socket.</summary>
public sealed record RawHttpResponse(string Version, int StatusCode, string ReasonPhrase, IReadOnlyList<KeyValuePair<string, string>> Headers, byte[] Body, bool WasChunked)
{
    public string? Header(string name)
    {
        foreach (KeyValuePair<string, string> header in Headers)
        {
            if (string.Equals(header.Key, name, StringComparison.OrdinalIgnoreCase))
            {
                return header.Value;
            }
        }
        return null;
    }

    public string BodyText => Encoding.ASCII.GetString(Body);
}

/// <summary>How a raw connection ended when the client read it to the end.</summary>
public enum RawCloseKind
{
    /// <summary>The peer closed gracefully (read returned 0).</summary>
    Eof,

    /// <summary>The peer reset the connection.</summary>
    Reset,
}

/// <summary>
/// A raw HTTP/1.x client connection over a plain <see cref="Socket"/>: send any bytes, then parse
/// responses (Content-Length, chunked, or until close) with bounded timeouts.
/// </summary>
public sealed class RawHttpConnection : IDisposable
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(15);

    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;
    private bool _eof;

    private RawHttpConnection(Socket socket)
    {
        Socket = socket;
    }

    public Socket Socket { get; }

    /// <summary>Reads until the connection ends and requires a clean FIN with no further bytes.</summary>
    public async Task ExpectEofAsync()
    {
        (RawCloseKind kind, byte[] extra) = await ReadToCloseAsync();
        Assert.Equal(RawCloseKind.Eof, kind);
        Assert.Empty(extra);
    }

    /// <summary>Writes <paramref name="count"/> GET requests in one send: HTTP/1.1 pipelining.</summary>
    public Task SendPipelinedGetsAsync(int count, Func<int, string> path)
    {
        var requests = new StringBuilder();
        for (int i = 0; i < count; i++)
        {
            requests.Append(CultureInfo.InvariantCulture, $"GET {path(i)} HTTP/1.1\r\nHost: localhost\r\n\r\n");
        }
        return SendAsync(requests.ToString());
    }

    public static async Task<RawHttpConnection> ConnectAsync(IPEndPoint endPoint)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using var cts = new CancellationTokenSource(DefaultTimeout);
            await socket.ConnectAsync(endPoint, cts.Token);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return new RawHttpConnection(socket);
    }

    public Task SendAsync(string ascii) => SendAsync(Encoding.ASCII.GetBytes(ascii));

    public async Task SendAsync(ReadOnlyMemory<byte> data)
    {
        using var cts = new CancellationTokenSource(DefaultTimeout);
        while (!data.IsEmpty)
        {
            int sent = await Socket.SendAsync(data, SocketFlags.None, cts.Token);
            data = data[sent..];
        }
    }

    /// <summary>
    /// Reads <paramref name="count"/> responses in order, each within <paramref name="timeout"/>, and hands each
    /// to <paramref name="check"/> with its index before reading the next.
    /// </summary>
    public async Task ReadResponsesAsync(int count, TimeSpan timeout, Action<int, RawHttpResponse> check)
    {
        for (int i = 0; i < count; i++)
        {
            check(i, await ReadResponseAsync().WaitAsync(timeout));
        }
    }

    /// <summary>Reads one response. Bodies without a length are read until the server closes.</summary>
    public async Task<RawHttpResponse> ReadResponseAsync(bool headRequest = false)
    {
        using var cts = new CancellationTokenSource(DefaultTimeout);
        CancellationToken token = cts.Token;

        string statusLine = await ReadLineAsync(token) ?? throw new IOException("The connection closed before a response arrived.");
        string[] parts = statusLine.Split(' ', 3);
        if (parts.Length < 2 || !parts[0].StartsWith("HTTP/", StringComparison.Ordinal))
        {
            throw new InvalidDataException($"Bad status line: '{statusLine}'.");
        }
        int status = int.Parse(parts[1], CultureInfo.InvariantCulture);
        string reason = parts.Length > 2 ? parts[2] : "";

        var headers = new List<KeyValuePair<string, string>>();
        while (true)
        {
            string line = await ReadLineAsync(token) ?? throw new IOException("The connection closed inside the response headers.");
            if (line.Length == 0)
            {
                break;
            }
            int colon = line.IndexOf(':');
            headers.Add(new(line[..colon].Trim(), line[(colon + 1)..].Trim()));
        }

        string? Find(string name) => headers.FirstOrDefault(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).Value;

        if (headRequest || status is (>= 100 and < 200) or 204 or 304)
        {
            return new RawHttpResponse(parts[0], status, reason, headers, [], false);
        }

        string? transferEncoding = Find("Transfer-Encoding");
        if (transferEncoding is not null && transferEncoding.EndsWith("chunked", StringComparison.OrdinalIgnoreCase))
        {
            var body = new MemoryStream();
            while (true)
            {
                string sizeLine = await ReadLineAsync(token) ?? throw new IOException("The connection closed inside a chunked body.");
                int semicolon = sizeLine.IndexOf(';');
                int size = int.Parse(semicolon >= 0 ? sizeLine[..semicolon] : sizeLine, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                if (size == 0)
                {
                    // Trailers end with an empty line.
                    while ((await ReadLineAsync(token) ?? throw new IOException("The connection closed inside the trailers.")).Length != 0)
                    {
                    }
                    break;
                }
                await ReadExactlyAsync(body, size, token);
                string crlf = await ReadLineAsync(token) ?? throw new IOException("The connection closed after a chunk.");
                if (crlf.Length != 0)
                {
                    throw new InvalidDataException("A chunk was not followed by CRLF.");
                }
            }
            return new RawHttpResponse(parts[0], status, reason, headers, body.ToArray(), true);
        }

        if (Find("Content-Length") is { } contentLength)
        {
            var body = new MemoryStream();
            await ReadExactlyAsync(body, int.Parse(contentLength, CultureInfo.InvariantCulture), token);
            return new RawHttpResponse(parts[0], status, reason, headers, body.ToArray(), false);
        }

        var rest = new MemoryStream();
        await ReadToEndCoreAsync(rest, token);
        return new RawHttpResponse(parts[0], status, reason, headers, rest.ToArray(), false);
    }

    /// <summary>Reads until the server ends the connection and reports how it ended plus any bytes that came first.</summary>
    public async Task<(RawCloseKind Kind, byte[] Data)> ReadToCloseAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? DefaultTimeout);
        var data = new MemoryStream();
        try
        {
            await ReadToEndCoreAsync(data, cts.Token);
            return (RawCloseKind.Eof, data.ToArray());
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
        {
            return (RawCloseKind.Reset, data.ToArray());
        }
    }

    private async Task ReadToEndCoreAsync(MemoryStream destination, CancellationToken token)
    {
        destination.Write(_buffer, _start, _end - _start);
        _start = _end = 0;
        while (!_eof)
        {
            int n = await Socket.ReceiveAsync(_buffer.AsMemory(), SocketFlags.None, token);
            if (n == 0)
            {
                _eof = true;
                break;
            }
            destination.Write(_buffer, 0, n);
        }
    }

    private async Task ReadExactlyAsync(MemoryStream destination, int count, CancellationToken token)
    {
        while (count > 0)
        {
            if (_start == _end && !await FillAsync(token))
            {
                throw new IOException($"The connection closed with {count} body byte(s) still expected.");
            }
            int n = Math.Min(count, _end - _start);
            destination.Write(_buffer, _start, n);
            _start += n;
            count -= n;
        }
    }

    private async Task<string?> ReadLineAsync(CancellationToken token)
    {
        var line = new StringBuilder();
        while (true)
        {
            if (_start == _end && !await FillAsync(token))
            {
                return line.Length == 0 ? null : throw new IOException("The connection closed inside a line.");
            }
            int newline = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
            if (newline < 0)
            {
                line.Append(Encoding.ASCII.GetString(_buffer, _start, _end - _start));
                _start = _end;
                continue;
            }
            line.Append(Encoding.ASCII.GetString(_buffer, _start, newline - _start));
            _start = newline + 1;
            if (line.Length > 0 && line[^1] == '\r')
            {
                line.Length--;
            }
            return line.ToString();
        }
    }

    private async Task<bool> FillAsync(CancellationToken token)
    {
        if (_eof)
        {
            return false;
        }
        _start = 0;
        _end = await Socket.ReceiveAsync(_buffer.AsMemory(), SocketFlags.None, token);
        if (_end == 0)
        {
            _eof = true;
            return false;
        }
        return true;
    }

    public void Dispose() => Socket.Dispose();
}

public static class StreamReadExtensions
{
    /// <summary>Reads exactly <paramref name="length"/> bytes (a premature end fails) and returns them as ASCII.</summary>
    public static async Task<string> ReadAsciiExactlyAsync(this Stream stream, int length, TimeSpan timeout)
    {
        byte[] buffer = new byte[length];
        await stream.ReadExactlyAsync(buffer).AsTask().WaitAsync(timeout);
        return System.Text.Encoding.ASCII.GetString(buffer);
    }

    /// <summary>
    /// For i from 0 to <paramref name="count"/> - 1: reads exactly the ASCII text <paramref name="message"/>(i) and requires
    /// it, then calls <paramref name="acknowledge"/>(i) (typically to let the peer send the next message). Finally requires
    /// the end of the stream: the next read returns 0. Every read is bounded by <paramref name="timeout"/>.
    /// </summary>
    public static async Task ExpectMessagesThenEndAsync(this Stream stream, int count, Func<int, string> message, Action<int> acknowledge, TimeSpan timeout)
    {
        for (int i = 0; i < count; i++)
        {
            string expected = message(i);
            Assert.Equal(expected, await stream.ReadAsciiExactlyAsync(expected.Length, timeout));
            acknowledge(i);
        }
        byte[] buffer = new byte[64];
        Assert.Equal(0, await stream.ReadAsync(buffer).AsTask().WaitAsync(timeout));
    }
}
