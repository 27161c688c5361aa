import SwitchboardCore

/// The page served at `/`: what this service is and how to talk to it, with a tiny live client.
enum LandingPage {
    static func html(webSocketPath: String) -> String {
        """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
        <title>Switchboard</title>
        <style>
        body{font:15px/1.5 system-ui,sans-serif;max-width:56rem;margin:2rem auto;padding:0 1rem;color:#1d232a;background:#fbfbfa}
        h1{margin-bottom:0}h1+p{margin-top:.2rem;color:#5b6670}code,pre{font:13px ui-monospace,monospace;background:#eef0f2;border-radius:4px}
        code{padding:.1rem .3rem}pre{padding:.7rem;overflow:auto}table{border-collapse:collapse}td,th{border-bottom:1px solid #dde;padding:.25rem .6rem;text-align:left;vertical-align:top}
        #log{height:14rem;overflow:auto;background:#10151a;color:#cfe3d1;padding:.5rem;border-radius:4px;font:12px ui-monospace,monospace}
        input{font:inherit;padding:.2rem .4rem}button{font:inherit}
        </style></head><body>
        <h1>Switchboard</h1>
        <p>switchboard/\(SwitchboardVersion.current) — a real-time WebSocket hub with its own operator console.</p>
        <h2>Connect</h2>
        <p>Open a WebSocket to <code>ws://HOST:PORT\(webSocketPath)</code> and exchange compact JSON text frames.
        The first frame is <code>{"type":"welcome","client":"&lt;id&gt;","server":"switchboard/…","heartbeat_s":15}</code>.</p>
        <h2>Protocol</h2>
        <table>
        <tr><th>you send</th><th>you get</th></tr>
        <tr><td><code>{"type":"subscribe","channel":"news"}</code></td><td><code>{"type":"subscribed","channel":"news"}</code></td></tr>
        <tr><td><code>{"type":"unsubscribe","channel":"news"}</code></td><td><code>{"type":"unsubscribed","channel":"news"}</code></td></tr>
        <tr><td><code>{"type":"publish","channel":"news","data":…}</code></td><td>every subscriber gets <code>{"type":"message","channel":"news","data":…,"from":"&lt;client&gt;","seq":n}</code></td></tr>
        <tr><td><code>{"type":"ping"}</code></td><td><code>{"type":"pong"}</code></td></tr>
        </table>
        <p>Add <code>"id"</code> (string or number) to any request and the reply carries it; a publish with an id is acknowledged with
        <code>{"type":"ack","id":…}</code>. Errors keep the connection open: <code>{"type":"error","code":"…","message":"…"}</code>.
        Channel names are 1–128 bytes of <code>A-Z a-z 0-9 _ . : @ / -</code>. Binary frames close with 1003, invalid UTF-8 with 1007,
        oversized messages with 1009, a client that cannot keep up with 4002.</p>
        <h2>Try it</h2>
        <p><input id="channel" value="lobby" size="12"> <button id="sub">subscribe</button>
        <input id="text" value="hello" size="24"> <button id="pub">publish</button></p>
        <div id="log"></div>
        <p><a href="/healthz">/healthz</a></p>
        <script>
        const log=(t)=>{const d=document.getElementById('log');const l=document.createElement('div');l.textContent=t;d.appendChild(l);d.scrollTop=d.scrollHeight};
        const ws=new WebSocket((location.protocol==='https:'?'wss://':'ws://')+location.host+'\(webSocketPath)');
        ws.onopen=()=>log('connected');ws.onclose=(e)=>log('closed '+e.code+' '+e.reason);ws.onmessage=(e)=>log('← '+e.data);
        const send=(m)=>{const s=JSON.stringify(m);log('→ '+s);ws.send(s)};
        const ch=()=>document.getElementById('channel').value;
        document.getElementById('sub').onclick=()=>send({type:'subscribe',channel:ch()});
        document.getElementById('pub').onclick=()=>send({type:'publish',channel:ch(),data:document.getElementById('text').value});
        </script>
        </body></html>
        """
    }
}
