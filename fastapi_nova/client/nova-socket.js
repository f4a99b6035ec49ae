/*
 * nova-socket.js: the browser client shipped with fastapi-nova (plain JavaScript, no build step).
 *
 * A WebSocket that stays up:
 *   - heartbeats: every `heartbeatInterval` ms it sends the route's `heartbeat` string, which the
 *     server answers with the same string (never shown to `onmessage`); this keeps a reader who
 *     never types inside the route's `idle_timeout`. A connection that answers nothing for two
 *     intervals is treated as dead and replaced.
 *   - reconnects after a drop or a server restart, with exponential backoff and jitter
 *     (`minDelay` doubling up to `maxDelay`, each delay a random 50-100% of that).
 *   - `send()` while disconnected queues the message (up to `maxQueue`, oldest dropped first)
 *     and sends the queue, in order, right after the next connection opens.
 *   - hooks: `onopen(event)`, `onclose(event, retryInMs)`, `onmessage(data, event)`.
 *
 * Serve it from your route table with fastapi_nova.browser_client_path(), then:
 *
 *   <script src="/js/nova-socket.js"></script>
 *   <script>
 *     const chat = new NovaSocket("/chat", {heartbeat: "nova:heartbeat"});
 *     chat.onmessage = (text) => console.log(text);
 *     chat.send("hello");
 *   </script>
 */
(function (root) {
  "use strict";

  var DEFAULTS = {
    heartbeat: null, // the route's `heartbeat` option; null sends none
    heartbeatInterval: 20000, // ms; keep it well below the route's idle_timeout
    minDelay: 500, // ms before the first reconnect attempt
    maxDelay: 15000, // ms, the cap of the backoff
    maxQueue: 1000, // messages kept while disconnected
    protocols: undefined, // WebSocket subprotocols, passed through
  };

  function resolveUrl(url) {
    // "/chat" or "chat" -> ws(s)://<this page's host>/chat; ws:// and wss:// URLs as given.
    if (/^wss?:\/\//i.test(url)) return url;
    var absolute = new URL(url, root.location.href);
    absolute.protocol = absolute.protocol === "https:" ? "wss:" : "ws:";
    return absolute.href;
  }

  function NovaSocket(url, options) {
    var opts = {};
    var key;
    for (key in DEFAULTS) opts[key] = DEFAULTS[key];
    for (key in options || {}) opts[key] = options[key];
    this.url = resolveUrl(url);
    this.options = opts;
    this.onopen = opts.onopen || null;
    this.onclose = opts.onclose || null;
    this.onmessage = opts.onmessage || null;
    this.socket = null; // the current WebSocket, or null between attempts
    this.attempts = 0; // failed attempts since the last successful open
    this.queue = []; // messages waiting for a connection
    this.closed = false; // close() was called: never reconnect
    this._retry = null;
    this._beat = null;
    this._lastHeard = 0;
    this._connect();
  }

  NovaSocket.prototype = {
    /** True while a connection is open. */
    get connected() {
      return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
    },

    /** Send `data` now, or queue it until the next connection opens. */
    send: function (data) {
      if (this.closed) throw new Error("NovaSocket.send after close()");
      if (this.connected) {
        this.socket.send(data);
        return;
      }
      this.queue.push(data);
      if (this.queue.length > this.options.maxQueue) this.queue.shift();
    },

    /** Close for good: no reconnect, queued messages are dropped. */
    close: function (code, reason) {
      this.closed = true;
      this.queue = [];
      clearTimeout(this._retry);
      this._retry = null;
      this._stopHeartbeat();
      if (this.socket) this.socket.close(code || 1000, reason || "");
    },

    _connect: function () {
      var self = this;
      var socket = new WebSocket(this.url, this.options.protocols);
      this.socket = socket;
      socket.onopen = function (event) {
        self.attempts = 0;
        self._lastHeard = Date.now();
        self._startHeartbeat();
        self._hook("onopen", event);
        // Queued messages go after onopen, so a page can restore its state first.
        while (self.queue.length && socket.readyState === WebSocket.OPEN) {
          socket.send(self.queue.shift());
        }
      };
      socket.onmessage = function (event) {
        self._lastHeard = Date.now();
        if (event.data === self.options.heartbeat) return; // the server's answer
        self._hook("onmessage", event.data, event);
      };
      socket.onclose = function (event) {
        self._lost(socket, event);
      };
    },

    _lost: function (socket, event) {
      if (this.socket !== socket) return; // an old connection we already gave up on
      var self = this;
      this._stopHeartbeat();
      this.socket = null;
      var delay = this.closed ? null : this._backoff();
      this._hook("onclose", event, delay);
      if (delay !== null) {
        this._retry = setTimeout(function () {
          self._retry = null;
          if (!self.closed) self._connect();
        }, delay);
      }
    },

    _hook: function (name) {
      // A throwing hook is reported, but must not stop the queue flush or the reconnect.
      var hook = this[name];
      if (typeof hook !== "function") return;
      try {
        hook.apply(this, Array.prototype.slice.call(arguments, 1));
      } catch (error) {
        setTimeout(function () { throw error; }, 0); // to the console, as an uncaught error
      }
    },

    _backoff: function () {
      var base = Math.min(this.options.maxDelay, this.options.minDelay * Math.pow(2, this.attempts));
      this.attempts += 1;
      return Math.round(base * (0.5 + Math.random() / 2)); // jitter: no reconnect stampede
    },

    _startHeartbeat: function () {
      var self = this;
      var beat = this.options.heartbeat;
      var every = this.options.heartbeatInterval;
      if (beat === null || beat === undefined) return;
      this._beat = setInterval(function () {
        var socket = self.socket;
        if (!socket || socket.readyState !== WebSocket.OPEN) return;
        if (Date.now() - self._lastHeard > 2 * every + 1000) {
          // Nothing heard, not even heartbeat answers: the connection is dead but the browser
          // has not noticed (a network change, a sleeping laptop). Its close handshake may
          // never finish, so give up on it now and reconnect.
          socket.close(4000, "heartbeat lost");
          self._lost(socket, {code: 4000, reason: "heartbeat lost", wasClean: false});
          return;
        }
        socket.send(beat);
      }, every);
    },

    _stopHeartbeat: function () {
      clearInterval(this._beat);
      this._beat = null;
    },
  };

  root.NovaSocket = NovaSocket;
})(typeof window !== "undefined" ? window : this);
