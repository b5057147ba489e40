using Xunit;

namespace EpollTransport.Tests.Infrastructure;

/// <summary>
/// A long stress or scale test: skipped unless <c>EPOLLTRANSPORT_STRESS=1</c>, so the default suite
/// stays fast. Run them with <c>EPOLLTRANSPORT_STRESS=1 dotnet test -c Release --filter Category=Stress</c>.
/// </summary>
public sealed class StressTheoryAttribute : TheoryAttribute
{
    public const string Switch = "EPOLLTRANSPORT_STRESS";

    public StressTheoryAttribute()
    {
        if (Environment.GetEnvironmentVariable(Switch) != "1")
        {
            Skip = $"stress test: set {Switch}=1 to run it";
        }
    }
}
