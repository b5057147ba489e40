using EpollTransport.Frameworks.Tests.Infrastructure;
using EpollTransport.Tests.Helpers.RawSockets;
using EpollTransport.Tests.Infrastructure;
using Grpc.Core;
using Grpc.Net.Client;
using Xunit;
using Xunit.Abstractions;

namespace EpollTransport.Frameworks.Tests.Rpc;

/// <summary>gRPC (Grpc.AspNetCore server, Grpc.Net.Client client) over h2c on each transport.</summary>
public sealed class GrpcTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = GrpcScenarios.Timeout;

    /// <summary>Messages per streaming call in the default run: 15,000 (about 11 MiB) per stream, 45,000 per transport.</summary>
    private const int StreamMessages = 15_000;

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task UnaryCallsFromManyConcurrentTasksAreAllAnswered(string transport)
    {
        await GrpcScenarios.WarmUpAsync().WaitAsync(Timeout);
        await using TestServer server = await TestServer.StartAsync(transport, GrpcScenarios.MapService, GrpcScenarios.ServerOptions(new GrpcProbe()));
        using (GrpcChannel channel = GrpcScenarios.CreateChannel(server.Port))
        {
            var client = new Tester.TesterClient(channel);
            GrpcScenarios.Moved moved = await GrpcScenarios.UnaryAsync(client, tasks: 32, callsPerTask: 100);
            Figures.Report(output, "gRPC", "unary, 32 tasks", transport, moved.Messages, "calls", moved.Elapsed);
        }
        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task ServerClientAndBidirectionalStreamsDeliverEveryMessageIntact(string transport)
        => await StreamAsync(transport, StreamMessages);

    /// <summary>The heavy variant: ten times the messages per stream.</summary>
    [StressTheory]
    [Trait("Category", "Stress")]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task StressStreamsDeliverEveryMessageIntact(string transport)
        => await StreamAsync(transport, 10 * StreamMessages);

    private async Task StreamAsync(string transport, int count)
    {
        await GrpcScenarios.WarmUpAsync().WaitAsync(Timeout);
        await using TestServer server = await TestServer.StartAsync(transport, GrpcScenarios.MapService, GrpcScenarios.ServerOptions(new GrpcProbe()));
        using (GrpcChannel channel = GrpcScenarios.CreateChannel(server.Port))
        {
            var client = new Tester.TesterClient(channel);
            GrpcScenarios.Moved down = await GrpcScenarios.ServerStreamingAsync(client, count);
            GrpcScenarios.Moved up = await GrpcScenarios.ClientStreamingAsync(client, count);
            GrpcScenarios.Moved both = await GrpcScenarios.DuplexAsync(client, count);
            Figures.Report(output, "gRPC", "server streaming", transport, down.Messages, "messages", down.Elapsed);
            Figures.ReportMiB(output, "gRPC", "server streaming", transport, down.Bytes, down.Elapsed);
            Figures.Report(output, "gRPC", "client streaming", transport, up.Messages, "messages", up.Elapsed);
            Figures.ReportMiB(output, "gRPC", "client streaming", transport, up.Bytes, up.Elapsed);
            Figures.Report(output, "gRPC", "bidi streaming", transport, both.Messages, "messages", both.Elapsed);
            Figures.ReportMiB(output, "gRPC", "bidi streaming", transport, 2 * both.Bytes, both.Elapsed);
            // What the transport logged meanwhile (e.g. inline stalls handed to the thread pool), to explain the figures.
            output.WriteLine($"{transport}: transport events: {RawClient.CountTransportEvents(server.Logs)}; loops: {RawClient.DescribeLoops(server)}");
        }
        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task ExpiredDeadlineAndClientCancellationReachTheServerAndSpareTheConnection(string transport)
    {
        var probe = new GrpcProbe();
        await using TestServer server = await TestServer.StartAsync(transport, GrpcScenarios.MapService, GrpcScenarios.ServerOptions(probe));
        using (GrpcChannel channel = GrpcScenarios.CreateChannel(server.Port))
        {
            var client = new Tester.TesterClient(channel);
            string connection = (await client.EchoAsync(TesterService.Message(0)).ResponseAsync.WaitAsync(Timeout)).ConnectionId;

            // A deadline that expires: the client reports DeadlineExceeded, the server's call token fires, and the
            // stream's reset leaves the HTTP/2 connection in place (the next call runs on the same one).
            RpcException expired = await Assert.ThrowsAsync<RpcException>(() =>
                client.HangAsync(new Payload(), deadline: DateTime.UtcNow.AddMilliseconds(300)).ResponseAsync.WaitAsync(Timeout));
            Assert.Equal(StatusCode.DeadlineExceeded, expired.StatusCode);
            Assert.Equal(connection, await probe.HangCancelled.Task.WaitAsync(Timeout));
            Assert.Equal(connection, (await client.EchoAsync(TesterService.Message(1)).ResponseAsync.WaitAsync(Timeout)).ConnectionId);

            // The client cancels an endless server stream after reading 500 messages, mid-stream.
            using (var cancellation = new CancellationTokenSource())
            {
                using AsyncServerStreamingCall<Payload> call = client.Download(new DownloadRequest { Count = 0 }, cancellationToken: cancellation.Token);
                for (int i = 0; i < 500; i++)
                {
                    Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Timeout));
                    TesterService.Verify(call.ResponseStream.Current, i);
                }
                await cancellation.CancelAsync();
                RpcException cancelled = await Assert.ThrowsAsync<RpcException>(async () =>
                {
                    while (await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Timeout))
                    {
                    }
                });
                Assert.Equal(StatusCode.Cancelled, cancelled.StatusCode);
            }
            int written = await probe.DownloadCancelled.Task.WaitAsync(Timeout);
            Assert.True(written >= 500, $"the server wrote {written} messages before it saw the cancellation");

            // The connection is still healthy: a unary call and a full stream run on it.
            Assert.Equal(connection, (await client.EchoAsync(TesterService.Message(2)).ResponseAsync.WaitAsync(Timeout)).ConnectionId);
            await GrpcScenarios.ServerStreamingAsync(client, 1_000);
            Assert.Equal(connection, (await client.EchoAsync(TesterService.Message(3)).ResponseAsync.WaitAsync(Timeout)).ConnectionId);
        }
        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task StatusCodesHeadersAndTrailersArriveIntact(string transport)
    {
        await using TestServer server = await TestServer.StartAsync(transport, GrpcScenarios.MapService, GrpcScenarios.ServerOptions(new GrpcProbe()));
        using (GrpcChannel channel = GrpcScenarios.CreateChannel(server.Port))
        {
            await GrpcScenarios.AssertStatusAndTrailersAsync(new Tester.TesterClient(channel));
        }
        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }
}
