using System.Security.Cryptography;
using EpollTransport.Frameworks.Tests.Infrastructure;
using Google.Protobuf;
using Grpc.Core;

namespace EpollTransport.Frameworks.Tests.Rpc;

/// <summary>What the server side of the gRPC tests observed, for the test to wait on.</summary>
public sealed class GrpcProbe
{
    /// <summary>Completed with the connection id when a Hang call's cancellation token fires.</summary>
    public TaskCompletionSource<string> HangCancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completed with the number of messages written when an endless Download is cancelled.</summary>
    public TaskCompletionSource<int> DownloadCancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>The gRPC service the tests call directly and through YARP; it verifies every message it receives.</summary>
public sealed class TesterService(GrpcProbe probe) : Tester.TesterBase
{
    public const string ResponseHeader = "x-response-header";
    public const string TextTrailer = "x-trailer";
    public const string BinaryTrailer = "x-trailer-bin";

    /// <summary>The bytes of the binary trailer: not valid UTF-8, so it only survives as real binary metadata.</summary>
    public static readonly byte[] BinaryTrailerValue = [0x00, 0xff, 0x80, 0x7f, 0x0d, 0x0a, 0xc3];

    public static Payload Message(int index) => new() { Index = index, Data = UnsafeByteOperations.UnsafeWrap(TestPayloads.Get(index)) };

    /// <summary>Throws unless <paramref name="payload"/> is exactly message <paramref name="expectedIndex"/>.</summary>
    public static void Verify(Payload payload, int expectedIndex)
    {
        if (payload.Index != expectedIndex)
        {
            throw new RpcException(new Status(StatusCode.DataLoss, $"expected message {expectedIndex}, got {payload.Index}"));
        }
        if (!payload.Data.Span.SequenceEqual(TestPayloads.Get(expectedIndex)))
        {
            throw new RpcException(new Status(StatusCode.DataLoss, $"message {expectedIndex} ({payload.Data.Length} bytes) is corrupt"));
        }
    }

    public override Task<Payload> Echo(Payload request, ServerCallContext context)
        => Task.FromResult(new Payload { Index = request.Index, Data = request.Data, ConnectionId = context.GetHttpContext().Connection.Id });

    public override async Task Download(DownloadRequest request, IServerStreamWriter<Payload> responseStream, ServerCallContext context)
    {
        int written = 0;
        // An endless stream (count 0) ends only by cancellation; record how far it got when the token fired.
        using CancellationTokenRegistration registration = context.CancellationToken.Register(() => probe.DownloadCancelled.TrySetResult(Volatile.Read(ref written)));
        for (int i = 0; request.Count == 0 || i < request.Count; i++)
        {
            // Writes after a reset may complete without error, so the token (not an exception) ends the loop.
            context.CancellationToken.ThrowIfCancellationRequested();
            await responseStream.WriteAsync(Message(i));
            Volatile.Write(ref written, i + 1);
        }
    }

    public override async Task<UploadSummary> Upload(IAsyncStreamReader<Payload> requestStream, ServerCallContext context)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        int count = 0;
        long bytes = 0;
        await foreach (Payload payload in requestStream.ReadAllAsync(context.CancellationToken))
        {
            Verify(payload, count++);
            hash.AppendData(payload.Data.Span);
            bytes += payload.Data.Length;
        }
        return new UploadSummary { Count = count, Bytes = bytes, Sha256 = Convert.ToHexStringLower(hash.GetHashAndReset()) };
    }

    public override async Task Duplex(IAsyncStreamReader<Payload> requestStream, IServerStreamWriter<Payload> responseStream, ServerCallContext context)
    {
        int count = 0;
        await foreach (Payload payload in requestStream.ReadAllAsync(context.CancellationToken))
        {
            Verify(payload, count++);
            await responseStream.WriteAsync(payload);
        }
    }

    public override async Task<Payload> Hang(Payload request, ServerCallContext context)
    {
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (context.CancellationToken.Register(() => cancelled.TrySetResult()))
        {
            await cancelled.Task;
        }
        probe.HangCancelled.TrySetResult(context.GetHttpContext().Connection.Id);
        throw new RpcException(new Status(StatusCode.Cancelled, "the call was cancelled"));
    }

    public override async Task<Payload> Fail(FailRequest request, ServerCallContext context)
    {
        await context.WriteResponseHeadersAsync(new Metadata { { ResponseHeader, "header-" + request.TrailerValue } });
        var trailers = new Metadata
        {
            { TextTrailer, request.TrailerValue },
            { BinaryTrailer, BinaryTrailerValue },
        };
        if (request.StatusCode == (int)StatusCode.OK)
        {
            foreach (Metadata.Entry entry in trailers)
            {
                context.ResponseTrailers.Add(entry);
            }
            return new Payload { Index = 1 };
        }
        throw new RpcException(new Status((StatusCode)request.StatusCode, request.Detail), trailers);
    }
}
