using DemoWeb.Grpc;
using Grpc.Core;
using Grpc.Net.Client;
using Xunit;

namespace DemoWeb.Tests;

/// <summary>DemoWeb's gRPC service (Protos/demo.proto) on the h2c port: prior-knowledge HTTP/2, over both transports.</summary>
public class GrpcServiceTests
{
    private const int StreamedMessages = 1_000;

    [Theory]
    [InlineData("epoll")]
    [InlineData("sockets")]
    public async Task AUnaryCallAndAThousandMessageStreamWorkOnTheH2cPort(string transport)
    {
        await using var server = await DemoServer.StartAsync("--transport", transport);
        using var channel = GrpcChannel.ForAddress(server.H2c, new GrpcChannelOptions { HttpHandler = new SocketsHttpHandler() });
        var client = new Echo.EchoClient(channel);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        EchoReply reply = await client.SayAsync(new EchoRequest { Text = "héllo, h2c" }, cancellationToken: timeout.Token);
        Assert.Equal("héllo, h2c", reply.Text);
        Assert.Equal(transport, reply.Transport);

        // Every message, in order, and nothing after the last: a stream of many small DATA frames.
        using AsyncServerStreamingCall<CountReply> call = client.Count(new CountRequest { Count = StreamedMessages }, cancellationToken: timeout.Token);
        int expected = 1;
        await foreach (CountReply message in call.ResponseStream.ReadAllAsync(timeout.Token))
        {
            Assert.Equal(expected++, message.N);
        }
        Assert.Equal(StreamedMessages + 1, expected);
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    [Fact]
    public async Task AnOutOfRangeCountIsAnInvalidArgument()
    {
        await using var server = await DemoServer.StartAsync();
        using var channel = GrpcChannel.ForAddress(server.H2c, new GrpcChannelOptions { HttpHandler = new SocketsHttpHandler() });
        var client = new Echo.EchoClient(channel);

        using AsyncServerStreamingCall<CountReply> call = client.Count(new CountRequest { Count = -1 });
        var error = await Assert.ThrowsAsync<RpcException>(async () => await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("it was -1", error.Status.Detail);
    }

    [Fact]
    public async Task TheServiceIsAlsoServedOverTlsWhereAlpnPicksHttp2()
    {
        await using var server = await DemoServer.StartAsync();
        var handler = new SocketsHttpHandler();
        // The server's certificate is the throw-away one DemoWeb generated in memory.
        handler.SslOptions.RemoteCertificateValidationCallback = (_, _, _, _) => true;
        using var channel = GrpcChannel.ForAddress(server.Https, new GrpcChannelOptions { HttpHandler = handler });

        EchoReply reply = await new Echo.EchoClient(channel).SayAsync(new EchoRequest { Text = "over TLS" });

        Assert.Equal("over TLS", reply.Text);
    }
}
