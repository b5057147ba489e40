using EpollTransport.Tests.Helpers;

namespace EpollTransport.Frameworks.Tests.Infrastructure;

/// <summary>
/// Message i of every stream the tests send: deterministic content and a size that varies from empty to 20 KiB
/// (mostly small, one in 101 large), so framing across buffer and frame boundaries is exercised. Both ends derive
/// the expected bytes from the index alone, which lets the receiver verify every message. The first
/// <see cref="CachedCount"/> are generated once and shared.
/// </summary>
public static class TestPayloads
{
    public const int CachedCount = 40_000;

    private static readonly Lazy<byte[][]> Cache = new(() => Enumerable.Range(0, CachedCount).Select(Generate).ToArray());

    public static int Size(int index) => index % 101 == 0 ? 16 * 1024 + index % 4096 : (int)((uint)index * 7919u % 1200u);

    public static byte[] Get(int index) => (uint)index < CachedCount ? Cache.Value[index] : Generate(index);

    private static byte[] Generate(int index) => DeterministicData.Create((ulong)index + 1, Size(index));

    /// <summary>A printable string for message i, sized like <see cref="Size"/> but at most <paramref name="maxLength"/>.</summary>
    public static string Text(int index, int maxLength) => DeterministicData.AsciiText((ulong)index + 7, Math.Min(Size(index), maxLength));
}
