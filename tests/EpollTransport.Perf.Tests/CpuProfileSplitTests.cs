using Xunit;

namespace EpollTransport.Perf.Tests;

public sealed class CpuProfileSplitTests
{
    // Shaped like `perf script -F comm,tid,ip,sym`: a header line per sample, its frames innermost
    // first, a blank line between samples. Managed frames carry the perf map's "[Assembly] Type::Method".
    private const string Script = """
        epoll loop 0 4242
        	ffffffff8161ac07 tcp_sendmsg
        	ffffffff8161283b __x64_sys_sendto
        	          101a37 __send
        	    7f0011223344 instance void [EpollTransport] EpollTransport.Connections.EpollConnection::SendQueued()[OptimizedTier1]

        .NET TP Worker 4250
        	    7f0011220000 instance bool [Microsoft.AspNetCore.Server.Kestrel.Core] Microsoft.AspNetCore.Server.Kestrel.Core.Internal.Http.Http1Connection::ParseRequest(valuetype)[OptimizedTier1]
        	    7f0011221111 instance void [EpollTransport] EpollTransport.Connections.ApplicationDispatcher::System.Threading.IThreadPoolWorkItem.Execute()[OptimizedTier1]

        .NET TP Worker 4251
        	ffffffff81000001 finish_task_switch.isra.0
        	ffffffff81000002 do_sched_yield
        	          202020 __sched_yield
        	    7f0011225555 instance bool [System.Private.CoreLib] System.Threading.LowLevelLifoSemaphore::Wait(int32,bool)[OptimizedTier1]

        .NET TP Worker 4252
        	ffffffff81000001 finish_task_switch.isra.0
        	          303030 [unknown]

        epoll loop 1 4243
        	    7f0011220000 instance bool [Microsoft.AspNetCore.Server.Kestrel.Core] Microsoft.AspNetCore.Server.Kestrel.Core.Internal.Http.Http1Connection::ParseRequest(valuetype)[OptimizedTier1]
        	    7f0011226666 instance void [EpollTransport] EpollTransport.Loops.EpollLoop::RunOnce()[OptimizedTier1]

        .NET Server GC 4260
        	          404040 WKS::gc_heap::mark_phase

        .NET Tiered Com 4261
        	          505050 [unknown]

        .NET TP Worker 4253
        	ffffffff8161283b __x64_sys_recvfrom
        	          606060 __recv
        	    7f0011227777 instance int32 [System.Net.Sockets] System.Net.Sockets.Socket::Receive(valuetype)[OptimizedTier1]
        """;

    [Fact]
    public void EverySampleLandsInExactlyOnePart()
    {
        CpuProfileSplit split = CpuProfileSplit.Parse(Script.ReplaceLineEndings("\n"));

        Assert.Equal(new CpuProfileSplit(Transport: 2, ThreadPool: 2, Gc: 1, Jit: 1, KestrelAndApp: 2), split);
        Assert.Equal(8, split.Samples);
    }

    [Theory]
    [InlineData("epoll loop 0", "do_epoll_wait", "Transport")]
    [InlineData(".NET Sockets", "do_epoll_wait", "Transport")]
    [InlineData(".NET TP Worker", "[unknown]", "ThreadPool")]
    [InlineData("DemoWeb", "[unknown]", "KestrelAndApp")]
    public void OutsideManagedCodeTheThreadDecides(string thread, string frame, string expected)
        => Assert.Equal(expected, CpuProfileSplit.Classify(thread, [frame]).ToString());

    [Fact]
    public void OnAnInlineLoopTheInnermostManagedFrameDecides()
    {
        string[] kestrelOnTheLoop =
        [
            "instance bool [Microsoft.AspNetCore.Server.Kestrel.Core] Microsoft.AspNetCore.Server.Kestrel.Core.Internal.Http.Http1Connection::ParseRequest()",
            "instance void [EpollTransport] EpollTransport.Loops.EpollLoop::RunOnce()",
        ];
        string[] loopCode = ["instance void [EpollTransport] EpollTransport.Loops.EpollLoop::RunOnce()"];

        Assert.Equal(CpuPart.KestrelAndApp, CpuProfileSplit.Classify("epoll loop 0", kestrelOnTheLoop));
        Assert.Equal(CpuPart.Transport, CpuProfileSplit.Classify("epoll loop 0", loopCode));
    }

    [Fact]
    public void ASocketSyscallIsTransportWhoeverMakesIt()
    {
        string[] sendUnderKestrel =
        [
            "tcp_sendmsg",
            "__x64_sys_sendmsg",
            "instance void [Microsoft.AspNetCore.Server.Kestrel.Core] Microsoft.AspNetCore.Server.Kestrel.Core.Internal.Http2.Http2FrameWriter::Flush()",
        ];

        Assert.Equal(CpuPart.Transport, CpuProfileSplit.Classify(".NET TP Worker", sendUnderKestrel));
    }

    [Fact]
    public void NoSamplesGiveAnEmptySplit()
        => Assert.Equal(0, CpuProfileSplit.Parse(string.Empty).Samples);
}
