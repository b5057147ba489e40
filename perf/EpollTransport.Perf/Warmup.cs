namespace EpollTransport.Perf;

/// <summary>
/// How long load runs before a measured run. A fresh DemoWeb spends its first seconds on a code path in
/// Tier-0 and instrumented code, and the runtime's tiered-compilation thread then recompiles the hot
/// methods while the load goes on, taking up to 44% of one of the two cores. Watched second by second
/// on this box, that lasted 4–6 s for h2c (whose rate climbed from about 130k to 500k req/s meanwhile)
/// and about 4 s for plaintext: a fixed 2 s warm-up left part of it inside the measured run of every
/// scenario that is first on its path in a round (plaintext 64, JSON, h2c), where it
/// taxed whichever configuration happened to tier up later. So the warm-up runs in one-second slices
/// until a slice passes in which the tiered-compilation thread was all but idle.
/// That test holds only because every server starts with the runtime's call-counting delay off
/// (<see cref="DemoServerProcess.RuntimeEnvironment"/>): with the delay on, the thread could sit idle for
/// 15–30 s of load before tier-up began, and an idle slice then said nothing about being settled.
/// </summary>
internal static class Warmup
{
    public const int SliceSeconds = 1;

    /// <summary>The fixed warm-up of runs before this policy, and still the least one.</summary>
    public const int MinSlices = 2;

    /// <summary>A bound for a server that never stops recompiling (it would be a finding, not a reason to hang).</summary>
    public const int MaxSlices = 12;

    /// <summary>The shortest and the longest warm-up, in seconds.</summary>
    public const int LeastSeconds = MinSlices * SliceSeconds, MostSeconds = MaxSlices * SliceSeconds;

    /// <summary>Tiered-compilation CPU in a slice at or below which the JIT counts as settled (one to two clock ticks).</summary>
    public const double SettledCompilationMilliseconds = 20;

    /// <summary>
    /// Whether to stop after <paramref name="slicesRun"/> slices, the last of which cost the
    /// tiered-compilation thread(s) <paramref name="compilationMilliseconds"/> of CPU (negative when such
    /// a thread exited meanwhile, which it does only after idling).
    /// </summary>
    public static bool IsDone(int slicesRun, double compilationMilliseconds) =>
        slicesRun >= MaxSlices || (slicesRun >= MinSlices && compilationMilliseconds <= SettledCompilationMilliseconds);
}
