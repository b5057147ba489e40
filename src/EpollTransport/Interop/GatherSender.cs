using System.Buffers;
using System.Runtime.InteropServices;
using Tmds.Linux;
using static EpollTransport.Interop.LinuxConstants;

namespace EpollTransport.Interop;

/// <summary>
/// Sends a multi-segment buffer with one <c>sendmsg</c>. One instance per thread that sends (loop
/// threads, and the application threads whose flushes send): it keeps its iovec array and pin handles
/// between calls so the write path does not allocate. The finalizer frees the array when the thread is gone.
/// </summary>
internal sealed unsafe class GatherSender : IDisposable
{
    [ThreadStatic]
    private static GatherSender? t_current;

    /// <summary>The calling thread's instance, made on its first send.</summary>
    public static GatherSender ForCurrentThread => t_current ??= new GatherSender();

    /// <summary>Segments per sendmsg: 64 pool blocks (256 KiB) is well below the kernel's IOV_MAX of 1024.</summary>
    public const int MaxSegments = 64;

    private readonly MemoryHandle[] _pins = new MemoryHandle[MaxSegments];
    private iovec* _vectors = (iovec*)NativeMemory.Alloc(MaxSegments, (nuint)sizeof(iovec));

    /// <summary>
    /// Sends as much of <paramref name="buffer"/> as the socket takes now. Returns the byte count, or -1
    /// with <paramref name="errno"/> set (EAGAIN when the send buffer is full).
    /// </summary>
    public nint Send(SocketFd socket, in ReadOnlySequence<byte> buffer, out Errno errno)
    {
        if (buffer.IsSingleSegment)
        {
            return socket.Send(buffer.FirstSpan, out errno);
        }

        ObjectDisposedException.ThrowIf(_vectors == null, this);
        FdOwnership.CheckSend(socket.Value, "sendmsg");
        int count = 0;
        try
        {
            foreach (ReadOnlyMemory<byte> segment in buffer)
            {
                if (segment.IsEmpty)
                {
                    continue;
                }
                if (count == MaxSegments)
                {
                    break;
                }
                // Kestrel's pool hands out pinned (POH) blocks, where this is cheap; other pools still work.
                _pins[count] = segment.Pin();
                _vectors[count] = new iovec { iov_base = _pins[count].Pointer, iov_len = segment.Length };
                count++;
            }

            msghdr message = default;
            message.msg_iov = _vectors;
            message.msg_iovlen = count;
            nint sent;
            do
            {
                sent = Libc.sendmsg(socket.Value, &message, MSG_NOSIGNAL);
                errno = sent < 0 ? Errno.Last : Errno.None;
            }
            while (sent < 0 && errno == Errno.EINTR);
            return sent;
        }
        finally
        {
            for (int i = 0; i < count; i++)
            {
                _pins[i].Dispose();
                _pins[i] = default;
            }
        }
    }

    ~GatherSender() => Free();

    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    private void Free()
    {
        if (_vectors != null)
        {
            NativeMemory.Free(_vectors);
            _vectors = null;
        }
    }
}
