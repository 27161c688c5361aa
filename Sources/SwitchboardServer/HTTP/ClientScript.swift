/// `/switchboard.js`: the native-protocol client for browsers (and any JavaScript runtime with a
/// `WebSocket`): requests with promises, automatic reconnect with jittered backoff, recovery
/// with `since` on every reconnect, and tokens renewed through the application's `getToken()`
/// before they expire. Served as it is written: no build step, no dependencies.
enum ClientScript {
    static let source = #"""
        /* switchboard.js — the Switchboard native-protocol client. No build step, no dependencies.
         *
         *   const sb = new Switchboard("ws://127.0.0.1:8080/ws", { token });
         *   // or, with tokens that expire: a fresh one for every connection and every refresh
         *   const sb = new Switchboard(url, { getToken: () => fetch("/token").then((r) => r.text()) });
         *   sb.on("state", (state, detail) => …);          // "connecting" | "connected" | "closed"
         *   const news = sb.subscribe("news", {
         *     presence: false,
         *     message: (m) => …,                             // {type:"message", channel, data, from, seq, event?}
         *     join: (m) => …, leave: (m) => …,               // presence changes, once per user
         *     recovered: (ok, reply) => …,                   // after every reconnect: true = nothing missed
         *     error: (e) => …,                               // a refused subscribe (Error, e.code), or messages_lost
         *   });
         *   await sb.publish("news", { hello: 1 });          // resolves on the server's ack
         *   await sb.publish("news", order, { idempotencyKey: order.id });  // safe to retry: {seq, duplicate?}
         *   await sb.presence("news");                       // [{user, info?}, …]
         *   await sb.history("news", { limit: 20 });         // {epoch, seq, messages:[…]}
         *   news.unsubscribe(); sb.close();
         *
         * It reconnects by itself with jittered exponential backoff, resubscribes every channel, and on
         * channels with history resumes each one with "since" (its last seq and epoch), so that the
         * messages published while it was away arrive in order, once: `recovered(true)`. When the
         * server cannot replay them all it says so, `recovered(false)`, and nothing partial arrives.
         *
         * Messages can also be lost while connected (a clustered node that could not receive them, or
         * Redis restarting empty, which starts the channel's numbering again at 1): the server sends
         * {type:"error", code:"messages_lost", channel, message, seq?, epoch?}. It goes to the
         * subscription's `error` and to `sb.on("error")`, like every error about a channel, and its
         * seq/epoch become the channel's position, so the messages after it are delivered (not
         * dropped as already seen because their seq is lower than before).
         *
         * Tokens that expire: `getToken()` (returning a token, or a promise of one) is called for each
         * connection's token and, when the server's welcome says `expires_in`, again a little before
         * that (a tenth of the lifetime, at most 30 s, early) to send {type:"refresh", token}; the
         * server answers {type:"refreshed", expires_in} and the connection goes on. Should the token
         * expire first, the server sends {type:"refresh_required"} and the client refreshes at once
         * (within the server's --refresh-grace, else the server closes with 4003 "expired" and the
         * client reconnects with a new token). A refresh the server refuses, or a getToken() that
         * fails, goes to `sb.on("error")`; "refresh_required" and "refreshed" are events too.
         */
        (function (root) {
          "use strict";

          class Subscription {
            constructor(client, channel, options) {
              this.client = client;
              this.channel = channel;
              this.options = options || {};
              /** The last position seen, {seq, epoch}, once the channel's history gave one. */
              this.position = null;
              this.active = true;
            }
            /** Moves the position to where the server says the channel stands (a `subscribed` or a
             *  `messages_lost` with a seq); without an epoch the old one is kept. */
            _moveTo(seq, epoch) {
              if (typeof seq !== "number") return;
              this.position = { seq, epoch: epoch !== undefined ? epoch : this.position ? this.position.epoch : undefined };
            }
            /** Stops receiving the channel. */
            unsubscribe() {
              if (!this.active) return;
              this.active = false;
              this.client._subscriptions.delete(this.channel);
              this.client._send({ type: "unsubscribe", channel: this.channel });
            }
            _call(name, ...args) {
              const handler = this.options[name];
              if (handler) {
                try { handler(...args); } catch (error) { setTimeout(() => { throw error; }); }
              }
            }
          }

          class Switchboard {
            /**
             * @param {string} url  ws:// or wss:// URL of the native endpoint (default: this page's /ws).
             * @param {object} options  token (sent as ?token=), or getToken() returning a token or a
             *   promise of one (asked for every connection and refresh), minDelay and maxDelay in ms
             *   (500, 10000).
             */
            constructor(url, options) {
              this.options = Object.assign({ minDelay: 500, maxDelay: 10000 }, options || {});
              this.url = url || (root.location.protocol === "https:" ? "wss://" : "ws://") + root.location.host + "/ws";
              this.state = "closed";
              this.clientID = null;
              this._subscriptions = new Map();
              this._pending = new Map();
              this._handlers = new Map();
              this._nextID = 1;
              this._attempt = 0;
              this._closedByUser = false;
              this._connect();
            }

            /** Listens to "state" (state, detail), "welcome", "error", "broadcast", "refresh_required" and "refreshed" (message). */
            on(event, handler) {
              if (!this._handlers.has(event)) this._handlers.set(event, []);
              this._handlers.get(event).push(handler);
              return this;
            }

            /** Subscribes to `channel` (see the file's head for the options); resubscribed after every reconnect. */
            subscribe(channel, options) {
              let subscription = this._subscriptions.get(channel);
              if (subscription) return subscription;
              subscription = new Subscription(this, channel, options);
              this._subscriptions.set(channel, subscription);
              if (this.state === "connected") this._subscribe(subscription);
              return subscription;
            }

            /**
             * Publishes `data` (any JSON value) to `channel`; resolves with the server's ack. With
             * `idempotencyKey`, a retry with the same key is not published twice: its ack has the
             * first publish's `seq` and `duplicate: true`.
             */
            publish(channel, data, options) {
              const request = { type: "publish", channel, data };
              if (options && options.event) request.event = options.event;
              if (options && options.idempotencyKey) request.idempotency_key = String(options.idempotencyKey);
              return this._request(request);
            }

            /** The users present in `channel`, on every node. */
            presence(channel) {
              return this._request({ type: "presence", channel }).then((reply) => reply.members);
            }

            /** A channel's kept messages: the latest `limit`, or those after `since` ({seq, epoch}). */
            history(channel, options) {
              const request = { type: "history", channel };
              if (options && options.since) request.since = options.since;
              if (options && options.limit) request.limit = options.limit;
              return this._request(request);
            }

            /** Closes the connection for good (no reconnect). */
            close() {
              this._closedByUser = true;
              clearTimeout(this._timer);
              clearTimeout(this._refreshTimer);
              if (this._ws) this._ws.close(1000, "client closed");
            }

            _emit(event, ...args) {
              for (const handler of this._handlers.get(event) || []) {
                try { handler(...args); } catch (error) { setTimeout(() => { throw error; }); }
              }
            }

            _setState(state, detail) {
              this.state = state;
              this._emit("state", state, detail);
            }

            /** The token for the next connection or refresh: getToken()'s, else the fixed one. */
            _token() {
              const { getToken, token } = this.options;
              return getToken ? Promise.resolve().then(getToken) : Promise.resolve(token);
            }

            _connect() {
              this._setState("connecting");
              this._token().then(
                (token) => {
                  if (this._closedByUser) return;
                  const url = token ? this.url + (this.url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : this.url;
                  this._open(new WebSocket(url));
                },
                (error) => {
                  this._emit("error", error);
                  this._setState("closed", { reason: "getToken failed" });
                  this._retry();
                }
              );
            }

            _open(ws) {
              this._ws = ws;
              ws.onmessage = (event) => this._receive(JSON.parse(event.data));
              ws.onclose = (event) => {
                if (this._ws !== ws) return;
                this._ws = null;
                clearTimeout(this._refreshTimer);
                for (const { reject } of this._pending.values()) reject(new Error("connection closed"));
                this._pending.clear();
                this._setState("closed", { code: event.code, reason: event.reason });
                // 4000 and 4009 (kicked, unauthorized) mean "do not come back"; everything else retries.
                if (event.code === 4000 || event.code === 4009) return;
                this._retry();
              };
            }

            _retry() {
              if (this._closedByUser) return;
              const ceiling = Math.min(this.options.maxDelay, this.options.minDelay * 2 ** this._attempt++);
              this._timer = setTimeout(() => this._connect(), ceiling / 2 + Math.random() * ceiling / 2);
            }

            /** Refreshes a little before `seconds` run out (a tenth of them, at most 30 s, early). */
            _refreshIn(seconds) {
              clearTimeout(this._refreshTimer);
              if (typeof seconds !== "number" || !this.options.getToken) return;
              this._refreshTimer = setTimeout(() => this._refresh(), Math.max(0, seconds - Math.min(30, seconds / 10)) * 1000);
            }

            /** Sends a new token from getToken(); one refresh at a time. */
            _refresh() {
              if (this._refreshing || !this.options.getToken || this.state !== "connected") return;
              this._refreshing = true;
              this._token()
                .then((token) => this._request({ type: "refresh", token }))
                .then((reply) => {
                  this._refreshIn(reply.expires_in);
                  this._emit("refreshed", reply);
                })
                .catch((error) => this._emit("error", error))
                .finally(() => { this._refreshing = false; });
            }

            _send(message) {
              if (this._ws && this._ws.readyState === 1) this._ws.send(JSON.stringify(message));
            }

            _request(message) {
              if (this.state !== "connected") return Promise.reject(new Error("not connected"));
              const id = this._nextID++;
              return new Promise((resolve, reject) => {
                this._pending.set(id, { resolve, reject });
                this._send(Object.assign({}, message, { id }));
              });
            }

            _subscribe(subscription) {
              const request = { type: "subscribe", channel: subscription.channel, id: this._nextID++ };
              if (subscription.options.presence) request.presence = true;
              if (subscription.position && subscription.position.epoch !== undefined) request.since = subscription.position;
              this._pending.set(request.id, {
                resolve: (reply) => this._subscribed(subscription, request, reply),
                reject: (error) => subscription._call("error", error),
              });
              this._send(request);
            }

            _subscribed(subscription, request, reply) {
              // Recovered: the replay that follows moves the position on, message by message. Otherwise
              // (a first subscribe, or not recovered) the stream goes on from the channel's position now,
              // and a reply without one leaves nothing to compare later seqs with.
              if (reply.recovered !== true) {
                if (typeof reply.seq !== "number") subscription.position = null;
                subscription._moveTo(reply.seq, reply.epoch);
              }
              if (request.since) subscription._call("recovered", reply.recovered === true, reply);
              subscription._call("subscribed", reply);
            }

            _receive(message) {
              const waiting = message.id !== undefined && this._pending.get(message.id);
              if (waiting) {
                this._pending.delete(message.id);
                if (message.type === "error") {
                  const error = new Error(message.message);
                  error.code = message.code;
                  waiting.reject(error);
                } else {
                  waiting.resolve(message);
                }
                return;
              }
              const subscription = message.channel !== undefined ? this._subscriptions.get(message.channel) : undefined;
              switch (message.type) {
                case "welcome":
                  this.clientID = message.client;
                  this._attempt = 0;
                  this._setState("connected", message);
                  this._refreshIn(message.expires_in);
                  this._emit("welcome", message);
                  for (const each of this._subscriptions.values()) this._subscribe(each);
                  break;
                case "message":
                  if (!subscription) return;
                  if (subscription.position) {
                    // A replayed or live message at or before the position was seen already.
                    if (message.seq <= subscription.position.seq) return;
                    subscription.position = { seq: message.seq, epoch: subscription.position.epoch };
                  }
                  subscription._call("message", message);
                  break;
                case "join":
                case "leave":
                  if (subscription) subscription._call(message.type, message);
                  break;
                case "broadcast":
                  this._emit("broadcast", message);
                  break;
                case "refresh_required":
                  this._emit("refresh_required", message);
                  this._refresh();
                  break;
                case "error":
                  // Lost messages: the numbering may have started again; go on from where it stands now.
                  if (subscription && message.code === "messages_lost") subscription._moveTo(message.seq, message.epoch);
                  if (subscription) subscription._call("error", message);
                  this._emit("error", message);
                  break;
              }
            }
          }

          root.Switchboard = Switchboard;
        })(typeof window !== "undefined" ? window : globalThis);
        """#
}
