using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using EpollTransport.Tests.Helpers.RawSockets;
using EpollTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Xunit;

namespace EpollTransport.Tests.Conformance;

/// <summary>How connections end: peer FIN, peer RST, server abort, server FIN, as the Sockets transport does it.</summary>
public class CloseSemanticsTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private static TaskCompletionSource<T> Signal<T>() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private static TaskCompletionSource Signal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Requires that the server ends the connection with a clean FIN and sends nothing more first.</summary>
    private static async Task ExpectFinWithNoDataAsync(Socket socket)
    {
        (byte[] rest, SocketException? error) = await RawClient.ReadUntilEndOrErrorAsync(socket, Timeout);
        Assert.Null(error);
        Assert.Empty(rest);
    }

    /// <summary>Requires that the server resets the connection (RST, not FIN) and sends nothing first.</summary>
    private static async Task ExpectResetWithNoDataAsync(Socket socket)
    {
        (byte[] data, SocketException? error) = await RawClient.ReadUntilEndOrErrorAsync(socket, Timeout);
        Assert.Empty(data);
        Assert.True(error is not null, "The client saw a clean EOF (FIN) instead of a reset.");
        Assert.Equal(SocketError.ConnectionReset, error!.SocketErrorCode);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task PeerFinAfterARequestMakesTheHttpServerCloseToo(string transport)
    {
        await using var server = await TestServer.StartAsync(transport, app => app.MapGet("/", () => "hello"));

        // A first request proves the connection is being served before the FIN.
        using Socket socket = await RawClient.ConnectAsync(server.EndPoint);
        RawResponse response = await RawClient.GetAsync(socket);
        Assert.Equal("hello", response.BodyText);

        socket.Shutdown(SocketShutdown.Send);
        await ExpectFinWithNoDataAsync(socket);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task PeerFinOnAFreshConnectionMakesTheHttpServerClose(string transport)
    {
        await using var server = await TestServer.StartAsync(transport, app => app.MapGet("/", () => "hello"));

        using Socket socket = await RawClient.ConnectAsync(server.EndPoint);
        socket.Shutdown(SocketShutdown.Send);
        await ExpectFinWithNoDataAsync(socket);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task PeerFinCompletesRawInputCleanlyAndFiresConnectionClosed(string transport)
    {
        var outcome = Signal<(string Data, bool Completed, Exception? Error, bool ClosedFired)>();
        await using var server = await TestServer.StartConnectionHandlerAsync(transport, async context =>
        {
            var closed = Signal();
            using CancellationTokenRegistration registration = context.ConnectionClosed.Register(() => closed.TrySetResult());
            var data = new StringBuilder();
            bool completed = false;
            Exception? error = null;
            try
            {
                while (true)
                {
                    ReadResult result = await context.Transport.Input.ReadAsync();
                    foreach (ReadOnlyMemory<byte> segment in result.Buffer)
                    {
                        data.Append(Encoding.ASCII.GetString(segment.Span));
                    }
                    context.Transport.Input.AdvanceTo(result.Buffer.End);
                    if (result.IsCompleted)
                    {
                        completed = true;
                        break;
                    }
                }
            }
            catch (Exception ex)
            {
                error = ex;
            }
            bool fired = await closed.Task.WaitAsync(Timeout).ContinueWith(t => t.IsCompletedSuccessfully);
            outcome.TrySetResult((data.ToString(), completed, error, fired));
        });

        using Socket socket = await RawClient.ConnectAsync(server.EndPoint);
        await RawClient.SendAsync(socket, "hello");
        socket.Shutdown(SocketShutdown.Send);

        var (received, isCompleted, exception, closedFired) = await outcome.Task.WaitAsync(Timeout);
        Assert.Null(exception);
        Assert.Equal("hello", received);
        Assert.True(isCompleted);
        Assert.True(closedFired, "ConnectionClosed did not fire after the peer's FIN.");

        // The handler returned: Kestrel disposes the connection, which ends in a FIN.
        Assert.Empty(await RawClient.ReadToEndAsync(socket, Timeout));
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task PeerFinAfterAPauseIsSeenByTheRawHandler(string transport)
    {
        // Data first, FIN only once the handler has consumed the data: two separate readiness events.
        var gotData = Signal();
        var outcome = Signal<bool>();
        await using var server = await TestServer.StartConnectionHandlerAsync(transport, async context =>
        {
            while (true)
            {
                ReadResult result = await context.Transport.Input.ReadAsync();
                context.Transport.Input.AdvanceTo(result.Buffer.End);
                if (!result.Buffer.IsEmpty)
                {
                    gotData.TrySetResult();
                }
                if (result.IsCompleted)
                {
                    outcome.TrySetResult(true);
                    return;
                }
            }
        });

        using Socket socket = await RawClient.ConnectAsync(server.EndPoint);
        await RawClient.SendAsync(socket, "data");
        await gotData.Task.WaitAsync(Timeout);
        socket.Shutdown(SocketShutdown.Send);
        Assert.True(await outcome.Task.WaitAsync(Timeout));
        Assert.Empty(await RawClient.ReadToEndAsync(socket, Timeout));
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task DataAndFinInOneSegmentBothReachTheRawHandler(string transport)
    {
        var dataSeen = Signal<string>();
        var completed = Signal();
        await using var server = await TestServer.StartConnectionHandlerAsync(transport, async context =>
        {
            var data = new StringBuilder();
            while (true)
            {
                ReadResult result = await context.Transport.Input.ReadAsync();
                foreach (ReadOnlyMemory<byte> segment in result.Buffer)
                {
                    data.Append(Encoding.ASCII.GetString(segment.Span));
                }
                context.Transport.Input.AdvanceTo(result.Buffer.End);
                if (data.Length >= 5)
                {
                    dataSeen.TrySetResult(data.ToString());
                }
                if (result.IsCompleted)
                {
                    completed.TrySetResult();
                    return;
                }
            }
        });

        using Socket socket = await RawClient.ConnectAsync(server.EndPoint);
        await SendCorkedWithFinAsync(socket, "hello");

        Assert.Equal("hello", await dataSeen.Task.WaitAsync(Timeout));
        await AssertCompletesAsync(completed.Task, "The handler got the data but its input never completed: the FIN sent with the data was lost.");
        Assert.Empty(await RawClient.ReadToEndAsync(socket, Timeout));
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task RequestAndFinInOneSegmentEndTheConnection(string transport)
    {
        // What "printf 'GET / ...' | nc -N host port" does: a keep-alive request and the FIN together.
        // Kestrel may or may not answer a request whose connection is already half-closed, but it must
        // not keep the connection open: the client sees EOF (after at most one whole response).
        var requestSeen = Signal();
        await using var server = await TestServer.StartAsync(transport, app => app.MapGet("/", () =>
        {
            requestSeen.TrySetResult();
            return "hello";
        }));

        using Socket socket = await RawClient.ConnectAsync(server.EndPoint);
        await SendCorkedWithFinAsync(socket, "GET / HTTP/1.1\r\nHost: test\r\n\r\n");

        (byte[] data, SocketException? error) = await RawClient.ReadUntilEndOrErrorAsync(socket, Timeout);
        Assert.Null(error);
        if (data.Length > 0)
        {
            string text = Encoding.ASCII.GetString(data);
            Assert.StartsWith("HTTP/1.1 200", text);
            Assert.EndsWith("hello\r\n0\r\n\r\n", text);
        }
    }

    private static async Task AssertCompletesAsync(Task task, string message)
    {
        try
        {
            await task.WaitAsync(Timeout);
        }
        catch (TimeoutException)
        {
            Assert.Fail(message);
        }
    }

    /// <summary>
    /// Sends <paramref name="ascii"/> and the FIN in one TCP segment: with TCP_CORK the data waits in the
    /// send queue and shutdown(SHUT_WR) puts the FIN flag on that same segment, so the server sees data and
    /// end-of-stream in a single readiness event.
    /// </summary>
    private static async Task SendCorkedWithFinAsync(Socket socket, string ascii)
    {
        const int IPPROTO_TCP = 6;
        const int TCP_CORK = 3;
        socket.NoDelay = false;
        socket.SetRawSocketOption(IPPROTO_TCP, TCP_CORK, BitConverter.GetBytes(1));
        await RawClient.SendAsync(socket, ascii);
        socket.Shutdown(SocketShutdown.Send);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task PeerResetMidBodyFailsTheBodyReadWithConnectionResetException(string transport)
    {
        var bodyStarted = Signal();
        var readFailure = Signal<Exception?>();
        await using var server = await TestServer.StartAsync(transport, app => app.MapPost("/", async (HttpContext context) =>
        {
            byte[] buffer = new byte[4096];
            try
            {
                while (true)
                {
                    int read = await context.Request.Body.ReadAsync(buffer);
                    if (read == 0)
                    {
                        readFailure.TrySetResult(null);
                        return;
                    }
                    bodyStarted.TrySetResult();
                }
            }
            catch (Exception ex)
            {
                readFailure.TrySetResult(ex);
            }
        }));

        using (Socket socket = await RawClient.ConnectAsync(server.EndPoint))
        {
            await RawClient.SendAsync(socket, "POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 1000000\r\n\r\n");
            await RawClient.SendAsync(socket, new byte[1000]);
            await bodyStarted.Task.WaitAsync(Timeout);
            socket.LingerState = new LingerOption(true, 0);
            socket.Close();
        }

        Exception? failure = await readFailure.Task.WaitAsync(Timeout);
        Assert.NotNull(failure);
        Assert.IsType<ConnectionResetException>(failure);
        Assert.IsAssignableFrom<IOException>(failure);

        await server.StopAsync();
        LogRecord[] loud = RawClient.TransportRecordsAboveDebug(server.Logs);
        Assert.True(loud.Length == 0, "A client reset was logged above Debug: " + RawClient.Describe(loud));
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task HttpContextAbortResetsTheConnection(string transport)
    {
        var aborted = Signal();
        await using var server = await TestServer.StartAsync(transport, app => app.MapGet("/", (HttpContext context) =>
        {
            context.Abort();
            aborted.TrySetResult();
            return Task.CompletedTask;
        }));

        using Socket socket = await RawClient.ConnectAsync(server.EndPoint);
        await RawClient.SendAsync(socket, "GET / HTTP/1.1\r\nHost: test\r\n\r\n");
        await aborted.Task.WaitAsync(Timeout);
        await ExpectResetWithNoDataAsync(socket);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task ConnectionCloseResponseIsDeliveredInFullThenEof(string transport)
    {
        byte[] body = RawClient.Payload(42, 300 * 1024);
        await using var server = await TestServer.StartAsync(transport, app => app.MapGet("/", async (HttpContext context) =>
        {
            context.Response.Headers.Connection = "close";
            context.Response.ContentLength = body.Length;
            await context.Response.Body.WriteAsync(body);
        }));

        using Socket socket = await RawClient.ConnectAsync(server.EndPoint);
        await RawClient.SendAsync(socket, "GET / HTTP/1.1\r\nHost: test\r\n\r\n");
        RawResponse response = await RawClient.ReadHttpResponseAsync(socket, Timeout);
        Assert.Equal(200, response.StatusCode);
        Assert.Equal("close", response.Headers["Connection"]);
        Assert.True(response.Body.AsSpan().SequenceEqual(body), "The response body differs from what the app wrote.");

        // Then a clean EOF: a 0-byte read, not a reset.
        byte[] buffer = new byte[16];
        using var cts = new CancellationTokenSource(Timeout);
        Assert.Equal(0, await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token));
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task RawAbortResetsTheConnection(string transport)
    {
        var aborted = Signal();
        await using var server = await TestServer.StartConnectionHandlerAsync(transport, async context =>
        {
            ReadResult result = await context.Transport.Input.ReadAsync();
            context.Transport.Input.AdvanceTo(result.Buffer.End);
            context.Abort();
            aborted.TrySetResult();
            // Stay in the handler until the connection is gone, so only Abort can have ended it.
            await Task.WhenAny(Task.Delay(Timeout, context.ConnectionClosed));
        });

        using Socket socket = await RawClient.ConnectAsync(server.EndPoint);
        await RawClient.SendAsync(socket, "x");
        await aborted.Task.WaitAsync(Timeout);
        await ExpectResetWithNoDataAsync(socket);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task RawOutputCompletionSendsAllDataThenFin(string transport)
    {
        byte[] payload = RawClient.Payload(7, 1024 * 1024 + 123);
        var inputOutcome = Signal<bool>();
        await using var server = await TestServer.StartConnectionHandlerAsync(transport, async context =>
        {
            ReadResult first = await context.Transport.Input.ReadAsync();
            context.Transport.Input.AdvanceTo(first.Buffer.End);

            for (int offset = 0; offset < payload.Length; offset += 10_000)
            {
                await context.Transport.Output.WriteAsync(payload.AsMemory(offset, Math.Min(10_000, payload.Length - offset)));
            }
            await context.Transport.Output.CompleteAsync();

            // The read side stays usable until the connection closes; it must end without hanging.
            try
            {
                while (true)
                {
                    ReadResult result = await context.Transport.Input.ReadAsync();
                    context.Transport.Input.AdvanceTo(result.Buffer.End);
                    if (result.IsCompleted || result.IsCanceled)
                    {
                        break;
                    }
                }
                inputOutcome.TrySetResult(true);
            }
            catch (Exception)
            {
                inputOutcome.TrySetResult(false);
            }
        });

        using Socket socket = await RawClient.ConnectAsync(server.EndPoint);
        await RawClient.SendAsync(socket, "go");
        (byte[] data, SocketException? error) = await RawClient.ReadUntilEndOrErrorAsync(socket, Timeout);
        Assert.Null(error);
        Assert.Equal(payload.Length, data.Length);
        Assert.True(data.AsSpan().SequenceEqual(payload), "The data before the FIN differs from what the handler wrote.");
        socket.Close();
        await inputOutcome.Task.WaitAsync(Timeout);
    }
}
