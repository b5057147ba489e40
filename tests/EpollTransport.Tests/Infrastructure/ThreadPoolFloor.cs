using System.Runtime.CompilerServices;

namespace EpollTransport.Tests.Infrastructure;

/// <summary>
/// Test classes run in parallel, and several of them block thread-pool threads on purpose (a handler
/// that waits synchronously, a dispatch that never returns). On two cores the pool starts with two
/// workers and adds one about every half second, so a few such handlers starve every other test's
/// continuations for seconds, and a test that times the transport (Abort ends a stalled flush at once)
/// would time the pool's thread injection instead. A floor of workers keeps one test's deliberate
/// blocking from reaching its neighbours; the product code under test is unchanged.
/// </summary>
internal static class ThreadPoolFloor
{
    public const int MinWorkerThreads = 64;

    [ModuleInitializer]
    internal static void Raise()
    {
        ThreadPool.GetMinThreads(out int workers, out int completionPorts);
        ThreadPool.SetMinThreads(Math.Max(workers, MinWorkerThreads), completionPorts);
    }
}
