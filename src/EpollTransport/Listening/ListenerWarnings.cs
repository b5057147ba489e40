using EpollTransport.Diagnostics;
using EpollTransport.Interop;
using EpollTransport.Loops;

namespace EpollTransport.Listening;

/// <summary>
/// The warnings of one listener's accept path, each kind at most once per interval however many loops
/// and retries hit it: an operator needs the line, not a flood while the condition lasts.
/// </summary>
internal sealed class ListenerWarnings
{
    private readonly WarningGate _acceptFailures = new();
    private readonly WarningGate _descriptorLimit = new();
    private readonly WarningGate _rewatchFailures = new();

    public void AcceptFailed(EpollLoop loop, string endPoint, Errno errno, TimeSpan pause)
    {
        if (_acceptFailures.TryTakeTurn())
        {
            EpollTransportLog.AcceptFailed(loop.Logger, endPoint, errno.Name, (int)pause.TotalMilliseconds);
        }
    }

    public void DescriptorLimitReached(EpollLoop loop, string endPoint, DescriptorReserve reserve, TimeSpan pause)
    {
        if (_descriptorLimit.TryTakeTurn())
        {
            EpollTransportLog.DescriptorLimitReached(loop.Logger, endPoint, DescriptorLimit.OpenCount(),
                reserve.Limit, reserve.Reserve, loop.Counters.ConnectionsRefused, loop.Index, (int)pause.TotalMilliseconds);
        }
    }

    public void RewatchFailed(EpollLoop loop, string endPoint, Errno errno, TimeSpan retryIn)
    {
        if (_rewatchFailures.TryTakeTurn())
        {
            EpollTransportLog.ListenerRewatchFailed(loop.Logger, endPoint, loop.Index, errno.Name, (int)retryIn.TotalMilliseconds);
        }
    }
}
