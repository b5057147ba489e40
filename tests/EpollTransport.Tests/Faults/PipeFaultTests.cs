using System.IO.Pipelines;
using System.Net.Sockets;
using System.Text;
using EpollTransport.Tests.Helpers.RawSockets;
using EpollTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Xunit;

namespace EpollTransport.Tests.Faults;

/// <summary>
/// The application ends one direction of the transport's pipes with an error (legal API use, and what
/// Kestrel and middleware do on failures): the connection behaves as on Sockets. Raw connection
/// handlers on real Kestrel servers, raw client sockets.
/// </summary>
public class PipeFaultTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task AnOutputCompletedWithAnErrorEndsTheConnectionAndFreesItsSlot(string transport)
    {
        var inputEnded = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        Func<ConnectionContext, Task> handler = async connection =>
        {
            PipeReader input = connection.Transport.Input;
            ReadResult first = await input.ReadAsync();
            byte command = first.Buffer.FirstSpan[0];
            input.AdvanceTo(first.Buffer.End);
            if (command == (byte)'E')
            {
                await connection.Transport.Output.WriteAsync("echo"u8.ToArray());
                return;
            }

            await connection.Transport.Output.WriteAsync("partial"u8.ToArray());
            connection.Transport.Output.Complete(new InvalidOperationException("The middleware failed mid-response."));
            // The transport's input must end too: the connection is over.
            try
            {
                while (!(await input.ReadAsync()).IsCompleted)
                {
                }
                inputEnded.TrySetResult("completed");
            }
            catch (Exception ex)
            {
                inputEnded.TrySetResult(ex.GetType().Name);
            }
        };
        await using TestServer server = await TestServer.StartConnectionHandlerAsync(transport, handler, new TestServerOptions
        {
            // One connection at a time: a connection that never ends keeps the only slot for good.
            ConfigureKestrel = kestrel =>
            {
                kestrel.Limits.MaxConcurrentConnections = 1;
                kestrel.Listen(System.Net.IPAddress.Loopback, 0, listen => listen.Run(handler));
            },
        });

        using (Socket faulted = await RawClient.ConnectAsync(server.EndPoint))
        {
            await RawClient.SendAsync(faulted, "F");
            // RST or FIN, as long as it comes: the client must not wait forever.
            (byte[] data, SocketException? error) = await RawClient.ReadUntilEndOrErrorAsync(faulted, Timeout);
            Assert.True(data.Length <= "partial".Length, $"Received {data.Length} bytes.");
            Assert.True(error is null || error.SocketErrorCode == SocketError.ConnectionReset, $"Unexpected {error?.SocketErrorCode}.");
        }
        await inputEnded.Task.WaitAsync(Timeout);

        // The connection was disposed, so its MaxConcurrentConnections slot is free again; Kestrel frees
        // it just after the dispose, so a connection that arrives a moment early may still be refused.
        DateTime deadline = DateTime.UtcNow + Timeout;
        while (!await TryEchoAsync(server))
        {
            Assert.True(DateTime.UtcNow < deadline, "A new connection was never served: the faulted one still holds the only slot.");
            await Task.Delay(20);
        }

        await server.StopAsync().WaitAsync(Timeout);
    }

    private static async Task<bool> TryEchoAsync(TestServer server)
    {
        try
        {
            using Socket socket = await RawClient.ConnectAsync(server.EndPoint);
            await RawClient.SendAsync(socket, "E");
            (byte[] data, _) = await RawClient.ReadUntilEndOrErrorAsync(socket, Timeout);
            return Encoding.ASCII.GetString(data) == "echo";
        }
        catch (SocketException)
        {
            // Refused at the connection limit, before the send.
            return false;
        }
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task AnApplicationThatStopsReadingWithAnErrorStillSendsItsWholeResponse(string transport)
    {
        const int ResponseLength = 200_000;
        byte[] response = RawClient.Payload(22, ResponseLength);
        var responseReceived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using TestServer server = await TestServer.StartConnectionHandlerAsync(transport, async connection =>
        {
            ReadResult first = await connection.Transport.Input.ReadAsync();
            connection.Transport.Input.AdvanceTo(first.Buffer.End);
            connection.Transport.Input.Complete(new InvalidOperationException("The application reads no more."));
            await connection.Transport.Output.WriteAsync(response);
            // The output stays open until the client has the response: what a close does with bytes the
            // client is still sending (the kernel resets a socket closed with unread data, on every
            // transport) is not what this test is about.
            await responseReceived.Task.WaitAsync(Timeout);
            await connection.Transport.Output.CompleteAsync();
        });

        using Socket socket = await RawClient.ConnectAsync(server.EndPoint);
        using var stopSending = new CancellationTokenSource();
        // The client keeps sending while it reads, as a client uploading a body the server refuses does.
        Task sending = Task.Run(async () =>
        {
            byte[] chunk = new byte[8 * 1024];
            try
            {
                while (!stopSending.IsCancellationRequested)
                {
                    await socket.SendAsync(chunk, SocketFlags.None, stopSending.Token);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                // The server's close ends the upload; only the response matters here.
            }
        });

        var received = new MemoryStream();
        byte[] buffer = new byte[64 * 1024];
        using var deadline = new CancellationTokenSource(Timeout);
        while (received.Length < ResponseLength)
        {
            int read;
            try
            {
                read = await socket.ReceiveAsync(buffer, SocketFlags.None, deadline.Token);
            }
            catch (SocketException ex)
            {
                Assert.Fail($"{ex.SocketErrorCode} after {received.Length} of {ResponseLength} bytes.");
                return;
            }
            if (read == 0)
            {
                break;
            }
            received.Write(buffer, 0, read);
        }
        Assert.Equal(ResponseLength, received.Length);
        Assert.True(response.AsSpan().SequenceEqual(received.ToArray()), "The response arrived with different bytes.");

        responseReceived.TrySetResult();
        (byte[] extra, _) = await RawClient.ReadUntilEndOrErrorAsync(socket, Timeout);
        Assert.Empty(extra);
        await stopSending.CancelAsync();
        await sending;
    }
}
