using System.Buffers;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;

namespace DemoWeb;

/// <summary>
/// The classic epoll-server demo as a raw Kestrel ConnectionHandler: every byte goes back as it arrives
/// (optionally with ASCII upper-cased). When the peer half-closes, what is left is flushed and the
/// handler returns, which closes our side.
/// </summary>
public sealed class EchoConnectionHandler(DemoSettings settings) : ConnectionHandler
{
    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        PipeReader input = connection.Transport.Input;
        PipeWriter output = connection.Transport.Output;
        try
        {
            while (true)
            {
                ReadResult result = await input.ReadAsync();
                foreach (ReadOnlyMemory<byte> segment in result.Buffer)
                {
                    if (settings.EchoUpper)
                    {
                        Span<byte> target = output.GetSpan(segment.Length)[..segment.Length];
                        for (int i = 0; i < segment.Length; i++)
                        {
                            byte b = segment.Span[i];
                            target[i] = b is >= (byte)'a' and <= (byte)'z' ? (byte)(b - 32) : b;
                        }
                        output.Advance(segment.Length);
                    }
                    else
                    {
                        output.Write(segment.Span);
                    }
                }
                input.AdvanceTo(result.Buffer.End);
                FlushResult flush = await output.FlushAsync();
                if (result.IsCompleted || flush.IsCompleted)
                {
                    return;
                }
            }
        }
        catch (ConnectionResetException)
        {
            // The peer went away abruptly; nothing to echo to.
        }
    }
}
