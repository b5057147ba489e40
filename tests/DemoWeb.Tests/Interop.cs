using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace DemoWeb.Tests;

/// <summary>The one raw call the tests need: letting a child process inherit a socket, as a supervisor would.</summary>
internal static class Interop
{
    private const int F_SETFD = 2;

    private const int FD_CLOEXEC = 1;

    /// <summary>
    /// Starts a process that inherits <paramref name="socket"/> under its own descriptor number: clears
    /// FD_CLOEXEC (which .NET sets on every socket) just for that start, so processes that parallel tests
    /// start meanwhile do not get it too.
    /// </summary>
    public static async Task<T> StartInheritingAsync<T>(Socket socket, Func<Task<T>> start)
    {
        int fd = (int)socket.Handle;
        SetCloseOnExec(fd, false);
        try
        {
            return await start();
        }
        finally
        {
            SetCloseOnExec(fd, true);
        }
    }

    private static void SetCloseOnExec(int fd, bool closeOnExec)
    {
        if (fcntl(fd, F_SETFD, closeOnExec ? FD_CLOEXEC : 0) != 0)
        {
            throw new SocketException(Marshal.GetLastPInvokeError());
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int fcntl(int fd, int command, int argument);
}
