using System.Net;
using EpollTransport.Interop;
using EpollTransport.Loops;

namespace EpollTransport.Listening;

/// <summary>
/// A connection taken from the kernel's backlog and not yet handed to Kestrel: only its descriptor and
/// addresses. Nothing reads it, and no loop watches it, until <c>AcceptAsync</c> gives it an owner.
/// </summary>
internal sealed record AcceptedSocket(SocketFd Fd, EndPoint? LocalEndPoint, EndPoint? RemoteEndPoint, EpollLoop AcceptingLoop)
{
    /// <summary>
    /// Never handed to Kestrel (the listener was disposed first): reset it, as closing the listening
    /// socket would have reset it in the backlog. Nobody else has ever seen the descriptor.
    /// </summary>
    public void Reject()
    {
        Fd.SetLingerZero();
        Fd.Close();
    }
}
