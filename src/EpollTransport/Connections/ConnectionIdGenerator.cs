namespace EpollTransport.Connections;

/// <summary>
/// Produces unique 13-character connection ids: a process-wide counter, seeded from the clock so ids
/// differ across restarts, written in Crockford-style base32 (the shape Kestrel's own ids have).
/// </summary>
internal static class ConnectionIdGenerator
{
    private const string Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUV";
    private static long s_last = DateTime.UtcNow.Ticks;

    public static string Next() => Encode(Interlocked.Increment(ref s_last));

    private static string Encode(long id) => string.Create(13, id, static (span, value) =>
    {
        for (int i = 12; i >= 0; i--)
        {
            span[i] = Alphabet[(int)(value & 31)];
            value >>= 5;
        }
    });
}
