#!/usr/bin/env node
// Peer hub for Switchboard's comparison benchmark (Benchmarks/compare.sh): an idiomatic hub on
// the `ws` package (Debian's node-ws), speaking the subset of Switchboard's JSON protocol that
// `switchboard bench` uses on /ws, plus a text/binary echo endpoint on /echo.
//
//   node Benchmarks/peers/node-ws/hub.js [--host 127.0.0.1] [--port 8080] [--cork]
//
// Each ws.send() is one write(v) syscall. With --cork (not the idiomatic default) the hub corks a
// subscriber's socket at its first frame of an event-loop tick and uncorks it on the next tick, so
// a burst of publishes reaches each subscriber in one write, as Switchboard flushes once per
// client per loop tick. It reaches into ws's private `_socket` for that.
//
// ws is required as `ws` (NODE_PATH=/usr/share/nodejs) or from Debian's install path.
'use strict';

const http = require('http');
const path = require('path');
let wsMain;
try { wsMain = require.resolve('ws'); } catch { wsMain = require.resolve('/usr/share/nodejs/ws'); }
const ws = require(wsMain);

const SERVER_NAME = `node-ws/${require(path.join(path.dirname(wsMain), 'package.json')).version}${process.argv.includes('--cork') ? '+cork' : ''}`;
const HEARTBEAT_S = 15;
const MAX_MESSAGE = 64 << 10;      // /ws, as Switchboard's default max-message-size
const MAX_ECHO = 16 << 20;         // /echo, as Switchboard's echo route
const MAX_BUFFERED = 1 << 20;      // a subscriber with more than this unsent is closed 4002 (Switchboard: 1 MiB)
const CHANNEL = /^[A-Za-z0-9_.:@/-]{1,128}$/;
const TEXT = { binary: false };

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}
const host = option('host', '127.0.0.1');
const port = Number(option('port', process.env.PORT || 8080));
const CORK = process.argv.includes('--cork');

// channel name → { seq, subs: Set<WebSocket> }
const channels = new Map();
let nextId = 0;

// The raw text of the top-level "data" member of a JSON object that JSON.parse accepted, so the
// value goes out byte for byte (JSON.stringify would round integers above 2^53, reorder nothing
// but still re-encode). Returns undefined if not found.
function rawData(s) {
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 34) { // "
      const start = i++;
      while (s.charCodeAt(i) !== 34) i += s.charCodeAt(i) === 92 ? 2 : 1;
      if (depth === 1 && i - start === 5 && s.startsWith('data', start + 1)) {
        let j = i + 1;
        while (s.charCodeAt(j) <= 32) j++;
        if (s.charCodeAt(j) !== 58) continue; // a string value "data", not the key
        j++;
        while (s.charCodeAt(j) <= 32) j++;
        return s.slice(j, valueEnd(s, j));
      }
    } else if (c === 123 || c === 91) depth++;
    else if (c === 125 || c === 93) depth--;
  }
  return undefined;
}

function valueEnd(s, i) {
  let depth = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 34) { i++; while (s.charCodeAt(i) !== 34) i += s.charCodeAt(i) === 92 ? 2 : 1; }
    else if (c === 123 || c === 91) depth++;
    else if (c === 125 || c === 93) { if (depth === 0) break; depth--; }
    else if (c === 44 && depth === 0) break;
  }
  while (s.charCodeAt(i - 1) <= 32) i--;
  return i;
}

function reply(client, body, id) {
  client.send(id === undefined ? body + '}' : body + ',"id":' + JSON.stringify(id) + '}');
}

function error(client, code, message, id) {
  reply(client, `{"type":"error","code":"${code}","message":${JSON.stringify(message)}`, id);
}

function onRequest(client, text) {
  let req;
  try { req = JSON.parse(text); } catch { return error(client, 'bad_json', 'the frame is not valid JSON'); }
  if (req === null || typeof req !== 'object' || Array.isArray(req) || typeof req.type !== 'string') {
    return error(client, 'bad_request', 'not a request object');
  }
  const id = req.id;
  if (id !== undefined && typeof id !== 'string' && typeof id !== 'number') return error(client, 'invalid_id', 'id must be a string or a number');
  if (req.type === 'ping') return reply(client, '{"type":"pong"', id);
  if (req.type !== 'subscribe' && req.type !== 'unsubscribe' && req.type !== 'publish') return error(client, 'unknown_type', 'unknown request type', id);
  const name = req.channel;
  if (name === undefined) return error(client, 'missing_channel', 'channel is required', id);
  if (typeof name !== 'string' || !CHANNEL.test(name)) return error(client, 'invalid_channel', 'channel must be 1-128 bytes of [A-Za-z0-9_.:@/-]', id);
  let channel = channels.get(name);
  switch (req.type) {
    case 'subscribe':
      if (!channel) channels.set(name, (channel = { seq: 0, subs: new Set() }));
      channel.subs.add(client);
      client.channels.add(name);
      return reply(client, `{"type":"subscribed","channel":"${name}"`, id);
    case 'unsubscribe':
      if (!channel || !channel.subs.delete(client)) return error(client, 'not_subscribed', `not subscribed to ${name}`, id);
      client.channels.delete(name);
      return reply(client, `{"type":"unsubscribed","channel":"${name}"`, id);
    case 'publish': {
      if (!('data' in req)) return error(client, 'missing_data', 'publish needs data', id);
      if (!channel) channels.set(name, (channel = { seq: 0, subs: new Set() }));
      const data = rawData(text) ?? JSON.stringify(req.data);
      // Encoded once per publish, sent to every subscriber.
      const frame = Buffer.from(`{"type":"message","channel":"${name}","seq":${++channel.seq},"from":"${client.id}","data":${data}}`);
      for (const sub of channel.subs) {
        if (sub.bufferedAmount > MAX_BUFFERED) { drop(sub); sub.close(4002, 'slow consumer'); continue; }
        if (CORK && !sub.corked) { sub.corked = true; sub._socket.cork(); process.nextTick(uncork, sub); }
        sub.send(frame, TEXT);
      }
      if (id !== undefined) reply(client, '{"type":"ack"', id);
      return;
    }
  }
}

function uncork(sub) {
  sub.corked = false;
  sub._socket.uncork();
}

function drop(client) {
  for (const name of client.channels) {
    const channel = channels.get(name);
    if (channel) channel.subs.delete(client);
  }
  client.channels.clear();
}

const hub = new ws.WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE, perMessageDeflate: false });
hub.on('connection', (client) => {
  client.id = 'c' + (++nextId).toString(16);
  client.channels = new Set();
  client.isAlive = true;
  client.send(`{"type":"welcome","client":"${client.id}","server":"${SERVER_NAME}","heartbeat_s":${HEARTBEAT_S}}`);
  client.on('message', (data, isBinary) => {
    client.isAlive = true;
    if (isBinary) return client.close(1003, 'binary frame');
    onRequest(client, data.toString());
  });
  client.on('pong', () => { client.isAlive = true; });
  client.on('close', () => drop(client));
  client.on('error', () => {});
});

// Heartbeat as in the ws README: ping every interval, terminate who stayed silent since the last.
setInterval(() => {
  for (const client of hub.clients) {
    if (!client.isAlive) { client.terminate(); continue; }
    client.isAlive = false;
    client.ping();
  }
}, HEARTBEAT_S * 1000).unref();

const echo = new ws.WebSocketServer({ noServer: true, maxPayload: MAX_ECHO, perMessageDeflate: false });
echo.on('connection', (client) => {
  client.on('message', (data, isBinary) => client.send(data, { binary: isBinary }));
  client.on('error', () => {});
});

const server = http.createServer((req, res) => {
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('not found\n');
});
server.on('upgrade', (req, socket, head) => {
  const path = req.url.split('?')[0];
  const target = path === '/ws' ? hub : path === '/echo' ? echo : null;
  if (!target) { socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'); return; }
  target.handleUpgrade(req, socket, head, (client) => target.emit('connection', client, req));
});
server.listen(port, host, () => {
  console.error(`${SERVER_NAME} listening on ws://${host}:${port}/ws (node ${process.version}, pid ${process.pid})`);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
