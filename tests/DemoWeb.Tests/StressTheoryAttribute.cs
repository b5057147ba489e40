using Xunit;

namespace DemoWeb.Tests;

/// <summary>
/// A long stress or scale test: skipped unless <c>EPOLLTRANSPORT_STRESS=1</c>, so the default suite
/// stays fast. Run them with <c>EPOLLTRANSPORT_STRESS=1 dotnet test -c Release --filter Category=Stress</c>.
/// </summary>
public sealed class StressTheoryAttribute : TheoryAttribute
{
    public StressTheoryAttribute()
    {
        if (Environment.GetEnvironmentVariable("EPOLLTRANSPORT_STRESS") != "1")
        {
            Skip = "stress test: set EPOLLTRANSPORT_STRESS=1 to run it";
        }
    }
}
