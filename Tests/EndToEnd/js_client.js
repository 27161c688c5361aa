// /switchboard.js in Node, for the end-to-end tests (test_cluster_blips.py, test_client_tokens.py):
// loads the script the server serves, gives it the `ws` package's WebSocket (Debian: node-ws),
// subscribes to one channel and prints every callback as one JSON line on stdout. With a
// TOKEN_URL, its getToken() fetches a token from there. Ends when stdin closes.
//
//   node js_client.js SCRIPT_URL WS_URL CHANNEL [TOKEN_URL]
"use strict";
const vm = require("vm");
const WebSocket = require("ws");

const [scriptURL, url, channel, tokenURL] = process.argv.slice(2);
const say = (event, detail) => process.stdout.write(JSON.stringify({ event, ...detail }) + "\n");
// Errors can be Error objects (a refused subscribe) or the server's error frames.
const plain = (e) => (e instanceof Error ? { message: e.message, code: e.code } : e);

async function main() {
  const response = await fetch(scriptURL);
  if (!response.ok) throw new Error(`GET ${scriptURL}: ${response.status}`);
  globalThis.WebSocket = WebSocket;
  vm.runInThisContext(await response.text(), { filename: "switchboard.js" });
  const getToken = tokenURL && (() => fetch(tokenURL).then((r) => r.text()));
  const sb = new globalThis.Switchboard(url, { getToken });
  sb.on("state", (state, detail) => say("state", { state, detail: detail && (detail.code !== undefined ? { code: detail.code } : {}) }));
  sb.on("welcome", (m) => say("welcome", { user: m.user, expires_in: m.expires_in }));
  sb.on("refresh_required", () => say("refresh_required", {}));
  sb.on("refreshed", (m) => say("refreshed", { expires_in: m.expires_in }));
  sb.on("error", (m) => say("client_error", { error: plain(m) }));
  sb.subscribe(channel, {
    message: (m) => say("message", { seq: m.seq, data: m.data }),
    subscribed: (reply) => say("subscribed", { reply }),
    recovered: (ok, reply) => say("recovered", { ok, reply }),
    error: (e) => say("error", { error: plain(e) }),
  });
  process.stdin.on("data", () => {});
  process.stdin.on("end", () => {
    sb.close();
    process.exit(0);
  });
}

main().catch((error) => {
  say("crash", { message: String(error && error.stack || error) });
  process.exit(1);
});
