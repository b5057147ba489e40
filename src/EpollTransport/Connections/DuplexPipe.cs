using System.IO.Pipelines;

namespace EpollTransport.Connections;

/// <summary>The application's view of a connection: read received bytes, write bytes to send.</summary>
internal sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
{
    public PipeReader Input { get; } = input;

    public PipeWriter Output { get; } = output;
}
