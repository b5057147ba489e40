using EpollTransport.Tests.Infrastructure;
using Xunit;

namespace EpollTransport.Frameworks.Tests.Infrastructure;

/// <summary>Theory data that crosses the transport parameters with a second dimension.</summary>
public static class FrameworkTheories
{
    /// <summary>Every transport of <see cref="Transports.All"/> with HTTP "1.1" and "2".</summary>
    public static TheoryData<string, string> TransportsAndHttpVersions => Cross(Transports.All, ["1.1", "2"]);

    public static TheoryData<string, T> Cross<T>(IEnumerable<string> transports, IEnumerable<T> values)
    {
        var data = new TheoryData<string, T>();
        foreach (string transport in transports)
        {
            foreach (T value in values)
            {
                data.Add(transport, value);
            }
        }
        return data;
    }

    /// <summary>The HTTP version a theory's "1.1" or "2" stands for.</summary>
    public static Version HttpVersionOf(string version) => version == "2" ? System.Net.HttpVersion.Version20 : System.Net.HttpVersion.Version11;
}
