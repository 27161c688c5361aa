// A minimal application backend for Benchmarks/backend_proxies.py: answers every proxy request
// (connect, subscribe, publish, refresh) at once, allowing it. Connect gives each connection its
// own user and, with EXPIRE_IN set, an expiry that far ahead. Node's http module: one core serves
// tens of thousands of small requests per second, so the hub, not the backend, is measured.
//
//   node Benchmarks/proxy_backend.js PORT [EXPIRE_IN_SECONDS]
"use strict";
const http = require("http");

const port = Number(process.argv[2] || 0);
const expireIn = Number(process.argv[3] || 0);
let users = 0;

const server = http.createServer({ keepAlive: true }, (request, response) => {
  const chunks = [];
  request.on("data", (chunk) => chunks.push(chunk));
  request.on("end", () => {
    let result = {};
    if (request.url.endsWith("/connect")) {
      result = { user: `u${++users}` };
      if (expireIn > 0) result.expire_at = Math.floor(Date.now() / 1000) + expireIn;
    } else if (request.url.endsWith("/refresh") && expireIn > 0) {
      result = { expire_at: Math.floor(Date.now() / 1000) + expireIn };
    }
    const body = JSON.stringify({ result });
    response.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
    response.end(body);
  });
});
server.keepAliveTimeout = 60000;
server.listen(port, "127.0.0.1", () => console.log(server.address().port));
