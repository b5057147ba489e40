namespace EpollTransport.Loops;

/// <summary>Something registered with a loop's epoll instance: a connection or a listening socket.</summary>
internal interface ILoopRegistration
{
    /// <summary>The slot and generation the loop put in the epoll registration; 0 when not registered.</summary>
    ulong Token { get; set; }

    /// <summary>Handles readiness. Runs on the owning loop thread only.</summary>
    void OnEvents(uint events);

    /// <summary>
    /// Called on the loop thread when the loop stops while this is still registered; true if that
    /// aborted a connection (the loop's stop log counts them).
    /// </summary>
    bool OnLoopStopping();

    /// <summary>
    /// Handling this registration's events threw: end what it serves (a connection fails alone; the loop
    /// and its other registrations go on). Loop thread.
    /// </summary>
    void OnFailure(Exception exception);
}
