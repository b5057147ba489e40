using System.Net.Sockets;
using EpollTransport.Loops;
using EpollTransport.Tests.Helpers.RawSockets;
using Microsoft.AspNetCore.Builder;

namespace EpollTransport.Tests.Helpers;

/// <summary>Where a request ran (on a loop, or off it) and how to get a connection's requests onto its loop.</summary>
internal static class LoopPlacement
{
    private const int Attempts = 50;

    /// <summary>
    /// Whether the calling thread holds a loop now. Not the thread's name: a thread that lost its loop
    /// while in a handler keeps the name, and Kestrel may go on to the connection's next request on it.
    /// </summary>
    public static bool OnLoopThread => Tenure.Current is { } tenure && ReferenceEquals(tenure.Loop.CurrentTenure, tenure);

    /// <summary>Maps <c>/where</c>: "loop" when the request runs on an epoll loop, "pool" otherwise.</summary>
    public static void MapWhere(WebApplication app) => app.MapGet("/where", () => OnLoopThread ? "loop" : "pool");

    /// <summary>
    /// Kestrel starts every connection on the thread pool, and a request whose bytes are already there
    /// when Kestrel asks for them runs on the asking thread. Once one request of a connection ran on its
    /// loop, Kestrel waits for the next one there, so that one is read and handled on the loop too.
    /// </summary>
    public static async Task WarmOnLoopAsync(Socket socket)
    {
        for (int attempt = 0; attempt < Attempts; attempt++)
        {
            if ((await RawClient.GetAsync(socket, "/where")).BodyText == "loop")
            {
                return;
            }
        }
        throw new InvalidOperationException($"No request of the connection ran on its loop in {Attempts} attempts.");
    }

    public static async Task WarmOnLoopAsync(HttpClient client)
    {
        for (int attempt = 0; attempt < Attempts; attempt++)
        {
            if (await client.GetStringAsync("/where") == "loop")
            {
                return;
            }
        }
        throw new InvalidOperationException($"No request of the client's connection ran on its loop in {Attempts} attempts.");
    }
}
