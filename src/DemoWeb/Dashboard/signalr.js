// A minimal SignalR client, just what the dashboard needs: the JSON hub protocol over WebSockets,
// receive-only. The official client is an npm package, and the page loads nothing from a CDN.
// Protocol: https://github.com/dotnet/aspnetcore/blob/main/src/SignalR/docs/specs/HubProtocol.md
(function () {
  "use strict";
  const RecordSeparator = "\u001e";
  const MessageType = { Invocation: 1, Ping: 6, Close: 7 };
  // The server drops a client it has not heard from in 30 s (ClientTimeoutInterval); half that keeps it alive.
  const PingInterval = 15000;
  // The server pings every 15 s (KeepAliveInterval) besides its updates, so 30 s of silence means it is gone.
  const ServerTimeout = 30000;
  // Negotiating and the handshake are quick on a healthy server; waiting longer only delays the fallback.
  const ConnectTimeout = 5000;

  // Connects to the hub at path and calls handlers[target](...arguments) for each invocation;
  // onClose(reason) is called exactly once, whether connecting failed or an open connection ended.
  function connect(path, handlers, onClose) {
    let socket = null;
    let closed = false;
    let handshakeDone = false;
    let buffer = "";
    let pingTimer = null;
    let silenceTimer = null;
    const connectTimer = setTimeout(() => close("no handshake within " + ConnectTimeout + " ms"), ConnectTimeout);

    function close(reason) {
      if (closed) return;
      closed = true;
      clearTimeout(connectTimer);
      clearInterval(pingTimer);
      clearTimeout(silenceTimer);
      if (socket && socket.readyState <= WebSocket.OPEN) socket.close();
      onClose(reason);
    }

    function heardFromServer() {
      clearTimeout(silenceTimer);
      silenceTimer = setTimeout(() => close("the server was silent for " + ServerTimeout + " ms"), ServerTimeout);
    }

    function send(message) {
      socket.send(JSON.stringify(message) + RecordSeparator);
    }

    function onMessage(text) {
      if (!handshakeDone) {
        // The first record is the handshake response: {} or {"error": "..."}.
        const response = JSON.parse(text);
        if (response.error) {
          close("handshake refused: " + response.error);
          return;
        }
        handshakeDone = true;
        clearTimeout(connectTimer);
        pingTimer = setInterval(() => send({ type: MessageType.Ping }), PingInterval);
        return;
      }
      const message = JSON.parse(text);
      if (message.type === MessageType.Invocation) {
        const handler = handlers[message.target];
        if (handler) handler.apply(null, message.arguments || []);
      } else if (message.type === MessageType.Close) {
        close("the server closed the connection" + (message.error ? ": " + message.error : ""));
      }
      // Pings (6) only prove the server is there; other types are for features this client does not use.
    }

    (async function () {
      try {
        const response = await fetch(path + "/negotiate?negotiateVersion=1", { method: "POST", cache: "no-store" });
        if (!response.ok) throw new Error("negotiate answered " + response.status);
        const negotiation = await response.json();
        if (!(negotiation.availableTransports || []).some(t => t.transport === "WebSockets")) {
          throw new Error("the server offers no WebSockets transport");
        }
        if (closed) return;
        const url = new URL(path, window.location.href);
        url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
        url.searchParams.set("id", negotiation.connectionToken);
        socket = new WebSocket(url);
        socket.onopen = () => {
          heardFromServer();
          socket.send(JSON.stringify({ protocol: "json", version: 1 }) + RecordSeparator);
        };
        socket.onmessage = event => {
          heardFromServer();
          // One WebSocket message may carry several records, or (in principle) part of one.
          buffer += event.data;
          let end;
          try {
            while (!closed && (end = buffer.indexOf(RecordSeparator)) >= 0) {
              const record = buffer.substring(0, end);
              buffer = buffer.substring(end + 1);
              onMessage(record);
            }
          } catch (error) {
            close("bad message: " + error);
          }
        };
        socket.onerror = () => close("WebSocket error");
        socket.onclose = event => close("WebSocket closed (" + event.code + ")");
      } catch (error) {
        close(String(error));
      }
    })();

    return { close: () => close("closed by the page") };
  }

  window.SignalRClient = { connect: connect };
})();
