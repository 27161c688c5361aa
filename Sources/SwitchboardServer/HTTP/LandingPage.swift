import SwitchboardCore

/// The page served at `/`: what this service is, how to talk to it, and a live client to try it
/// (connect, subscribe with or without presence, publish, and watch messages, members and
/// operator broadcasts arrive, and whether a reconnect recovered what was missed), built on
/// ``ClientScript``. No build step, no outside assets.
enum LandingPage {
    static func html(webSocketPath: String, pusherApps: Int) -> String {
        """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
        <title>Switchboard</title>
        <style>
        body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1d232a;background:#fbfbfa}
        h1{margin-bottom:0}h1+p{margin-top:.2rem;color:#5b6670}code,pre{font:13px ui-monospace,monospace;background:#eef0f2;border-radius:4px}
        code{padding:.1rem .3rem}table{border-collapse:collapse}td,th{border-bottom:1px solid #dde;padding:.25rem .6rem;text-align:left;vertical-align:top}
        .live{display:grid;grid-template-columns:1fr 14rem;gap:1rem}
        #log,#members{list-style:none;margin:0;padding:.5rem;height:18rem;overflow:auto;background:#10151a;color:#cfe3d1;border-radius:4px;font:12px ui-monospace,monospace}
        #members{background:#1b2129;color:#f0d9a8}#log li.broadcast{color:#ffd479}#log li.error{color:#ff8a80}#log li.recovered{color:#9be7a3}#log li.sys{color:#7f8c99}
        input,button{font:inherit;padding:.2rem .4rem}#status{font-weight:600}#status.connected{color:#2e7d32}#status.closed{color:#c62828}
        </style></head><body>
        <h1>Switchboard</h1>
        <p>switchboard/\(SwitchboardVersion.current) — a real-time WebSocket hub with its own operator console.</p>
        <h2>Try it</h2>
        <p>Status: <span id="status">connecting</span> · you are <code id="client">?</code></p>
        <p><input id="channel" value="lobby" size="14" aria-label="channel">
        <label><input type="checkbox" id="presence" checked> presence</label>
        <button id="subscribe">subscribe</button> <button id="unsubscribe">unsubscribe</button></p>
        <p><input id="data" value="hello" size="36" aria-label="message (JSON or text)"> <button id="publish">publish</button></p>
        <div class="live"><div><small>messages</small><ul id="log" aria-label="messages"></ul></div><div><small>present</small><ul id="members" aria-label="members present"></ul></div></div>
        <h2>Connect your own client</h2>
        <p>Open a WebSocket to <code>ws://HOST:PORT\(webSocketPath)</code> and exchange compact JSON text frames.
        The first frame is <code>{"type":"welcome","client":"&lt;id&gt;","server":"switchboard/…","heartbeat_s":15}</code>.</p>
        <table>
        <tr><th>you send</th><th>you get</th></tr>
        <tr><td><code>{"type":"subscribe","channel":"news"}</code> (add <code>"presence":true</code> to be seen)</td><td><code>{"type":"subscribed","channel":"news"}</code></td></tr>
        <tr><td><code>{"type":"unsubscribe","channel":"news"}</code></td><td><code>{"type":"unsubscribed","channel":"news"}</code></td></tr>
        <tr><td><code>{"type":"publish","channel":"news","data":…}</code></td><td>every subscriber gets <code>{"type":"message","channel":"news","data":…,"from":"&lt;client&gt;","seq":n}</code></td></tr>
        <tr><td><code>{"type":"presence","channel":"news"}</code></td><td><code>{"type":"presence","channel":"news","members":[{"user":…}],"count":n}</code>; subscribers also get <code>{"type":"join"|"leave","channel":…,"user":…}</code> once per user</td></tr>
        <tr><td><code>{"type":"history","channel":"news","limit":20}</code> (channels with history)</td><td><code>{"type":"history","channel":"news","epoch":…,"seq":n,"messages":[…]}</code></td></tr>
        <tr><td><code>{"type":"ping"}</code></td><td><code>{"type":"pong"}</code></td></tr>
        </table>
        <p>On channels with history, <code>subscribed</code> carries the channel's <code>"seq"</code> and <code>"epoch"</code>; a client
        that reconnects subscribes with <code>"since":{"seq":…,"epoch":…}</code> and gets <code>"recovered":true</code> and every message it
        missed, in order, or <code>"recovered":false</code> and no replay at all. <a href="/switchboard.js">/switchboard.js</a> is a small
        client that does this on every reconnect (this page uses it).</p>
        <p>Add <code>"id"</code> (string or number) to any request and the reply carries it; a publish with an id is acknowledged with
        <code>{"type":"ack","id":…}</code>. Errors keep the connection open: <code>{"type":"error","code":"…","message":"…"}</code>.
        Channel names are 1–128 bytes of <code>A-Z a-z 0-9 _ . : @ / -</code>. Binary frames close with 1003, invalid UTF-8 with 1007,
        oversized messages with 1009, a client that cannot keep up with 4002.</p>
        <p>Pusher Channels clients (pusher-js, Laravel Echo, …) connect to <code>ws://HOST:PORT/app/&lt;key&gt;?protocol=7</code> and
        backends use the signed HTTP API under <code>/apps/&lt;id&gt;/</code> (\(pusherApps == 0 ? "no app is configured: see <code>--pusher-app</code>" : "\(pusherApps) app\(pusherApps == 1 ? "" : "s") configured")).
        An app's channel <code>news</code> is the hub channel <code>&lt;id&gt;:news</code>.</p>
        <p><a href="/healthz">/healthz</a></p>
        <script src="/switchboard.js"></script>
        <script>
        "use strict";
        const $ = (id) => document.getElementById(id);
        const members = new Map(), subscriptions = new Map();
        function line(text, kind) {
          const li = document.createElement("li"); li.textContent = text; if (kind) li.className = kind;
          const log = $("log"); log.appendChild(li); while (log.children.length > 2000) log.firstChild.remove(); log.scrollTop = log.scrollHeight;
        }
        function showMembers() {
          const list = $("members"); list.replaceChildren();
          for (const [channel, users] of members) for (const user of users) {
            const li = document.createElement("li"); li.textContent = "#" + channel + " " + user; li.dataset.user = user; list.appendChild(li);
          }
        }
        const sb = new Switchboard((location.protocol === "https:" ? "wss://" : "ws://") + location.host + \(JSONText.quoted(webSocketPath)));
        sb.on("state", (state, detail) => {
          $("status").textContent = state === "closed" ? "closed " + detail.code + (detail.reason ? " " + detail.reason : "") : state;
          $("status").className = state === "connecting" ? "" : state;
          if (state === "closed") { members.clear(); showMembers(); }
        });
        sb.on("welcome", (m) => { $("client").textContent = m.user || m.client; });
        sb.on("broadcast", (m) => line("broadcast from " + m.from + ": " + JSON.stringify(m.data), "broadcast"));
        sb.on("error", (m) => line(m.code + ": " + m.message, "error"));
        function subscribe(channel, presence) {
          if (subscriptions.has(channel)) return;
          subscriptions.set(channel, sb.subscribe(channel, {
            presence,
            message: (m) => line("#" + m.channel + " " + m.from + (m.event ? " [" + m.event + "]" : "") + ": " + JSON.stringify(m.data)),
            subscribed: () => {
              line("subscribed to #" + channel, "sys");
              if (presence) sb.presence(channel).then((list) => { members.set(channel, new Set(list.map((x) => x.user))); showMembers(); }, () => {});
            },
            recovered: (ok, reply) => line(ok ? "recovered #" + channel + " at seq " + reply.seq : "not recovered #" + channel + ": messages were missed", ok ? "recovered" : "error"),
            join: (m) => { if (!members.has(channel)) members.set(channel, new Set()); members.get(channel).add(m.user); showMembers(); line(m.user + " joined #" + channel, "sys"); },
            leave: (m) => { members.get(channel)?.delete(m.user); showMembers(); line(m.user + " left #" + channel, "sys"); },
            error: (e) => line("#" + channel + ": " + (e.code || "") + " " + e.message, "error"),
          }));
        }
        $("subscribe").onclick = () => subscribe($("channel").value, $("presence").checked);
        $("unsubscribe").onclick = () => {
          const channel = $("channel").value, subscription = subscriptions.get(channel);
          if (!subscription) return line("not subscribed to #" + channel, "error");
          subscription.unsubscribe(); subscriptions.delete(channel); members.delete(channel); showMembers(); line("left #" + channel, "sys");
        };
        $("publish").onclick = () => {
          let data = $("data").value; try { data = JSON.parse(data); } catch (_) {}
          sb.publish($("channel").value, data).catch((e) => line("publish: " + (e.code || "") + " " + e.message, "error"));
        };
        </script>
        </body></html>
        """
    }
}
