using DemoWeb.Grpc;
using Grpc.Core;

namespace DemoWeb;

/// <summary>The gRPC showcase (Protos/demo.proto): a unary call and a server stream, on the h2c and HTTPS ports.</summary>
internal sealed class EchoGrpcService(DemoSettings settings) : Echo.EchoBase
{
    /// <summary>Enough to make a stream of many frames, small enough that one call cannot tie the server up for long.</summary>
    public const int MaxCount = 1_000_000;

    public override Task<EchoReply> Say(EchoRequest request, ServerCallContext context)
        => Task.FromResult(new EchoReply { Text = request.Text, Transport = settings.Transport });

    public override async Task Count(CountRequest request, IServerStreamWriter<CountReply> responseStream, ServerCallContext context)
    {
        if (request.Count is < 0 or > MaxCount)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"count must be between 0 and {MaxCount}; it was {request.Count}."));
        }
        for (int n = 1; n <= request.Count; n++)
        {
            await responseStream.WriteAsync(new CountReply { N = n }, context.CancellationToken);
        }
    }
}
