using System.Net;
using System.Security.Cryptography;
using EpollTransport.Tests.Helpers;

namespace EpollTransport.Frameworks.Tests.Proxy;

/// <summary>
/// A request body of <paramref name="length"/> bytes that counts what the network has taken (<see cref="Sent"/>),
/// says whether a write is waiting (<see cref="Writing"/>), and hashes what it sent, so a test can see the client
/// being held back by flow control and check what arrived. The bytes are a 1 MiB deterministic block, each 64 KiB
/// chunk stamped with its offset, so no two chunks are alike and a lost, repeated or reordered chunk changes the hash.
/// </summary>
public sealed class MeteredContent(long length) : HttpContent
{
    private const int ChunkSize = 64 * 1024;

    private static readonly byte[] Block = DeterministicData.Create(4242, 1024 * 1024);

    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private long _sent;
    private volatile bool _writing;

    public long Sent => Interlocked.Read(ref _sent);

    public bool Writing => _writing;

    /// <summary>The SHA-256 (lower-case hex) of everything sent; valid once the body is complete.</summary>
    public string Sha256Hex { get; private set; } = "";

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
    {
        byte[] chunk = new byte[ChunkSize];
        for (long offset = 0; offset < length; offset += ChunkSize)
        {
            int n = (int)Math.Min(ChunkSize, length - offset);
            Block.AsSpan((int)(offset % Block.Length), n).CopyTo(chunk);
            BitConverter.TryWriteBytes(chunk, offset);
            _hash.AppendData(chunk, 0, n);
            _writing = true;
            await stream.WriteAsync(chunk.AsMemory(0, n));
            _writing = false;
            Interlocked.Add(ref _sent, n);
        }
        Sha256Hex = Convert.ToHexStringLower(_hash.GetHashAndReset());
    }

    protected override bool TryComputeLength(out long computed)
    {
        computed = length;
        return true;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _hash.Dispose();
        }
        base.Dispose(disposing);
    }
}
