// Command gorilla-hub is a peer hub for Switchboard's comparison benchmark (Benchmarks/compare.sh):
// the idiomatic gorilla/websocket "hub" pattern (one hub goroutine owning the subscriptions,
// a readPump and a writePump goroutine per client, a buffered send channel per client that
// drops the client when it is full) speaking the subset of Switchboard's JSON protocol that
// `switchboard bench` uses, on /ws, plus a text/binary echo endpoint on /echo.
//
// Build offline from Debian's golang-github-gorilla-websocket-dev:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o .build-peers/gorilla-hub ./Benchmarks/peers/gorilla
package main

import (
	"encoding/json"
	"flag"
	"io"
	"log"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

const (
	serverName     = "gorilla-hub/1.5"
	heartbeat      = 15 * time.Second // ping period, announced in welcome
	pongWait       = 2 * heartbeat    // silent for two intervals: gone
	writeWait      = 10 * time.Second // per write
	maxMessageSize = 64 << 10         // /ws, as Switchboard's default
	maxEchoSize    = 16 << 20         // /echo, as Switchboard's echo route
	sendQueue      = 256              // per-client send channel (the gorilla chat example's size)
)

var upgrader = websocket.Upgrader{
	ReadBufferSize:  1024,
	WriteBufferSize: 1024,
	// Fan-out frames are PreparedMessages written straight to the socket; the write buffer is
	// only needed for the rare NextWriter write, so share it between connections.
	WriteBufferPool: &sync.Pool{},
}

// request is one client request; data and id are kept as raw JSON so they go out byte for byte.
type request struct {
	Type    string          `json:"type"`
	Channel *string         `json:"channel"`
	Data    json.RawMessage `json:"data"`
	ID      json.RawMessage `json:"id"`
}

type inbound struct {
	client  *Client
	req     request
	errCode string // set when the frame was not a valid request
}

// Client is one /ws connection.
type Client struct {
	hub      *Hub
	conn     *websocket.Conn
	id       string
	send     chan *websocket.PreparedMessage
	channels map[string]struct{} // owned by the hub goroutine
}

type channel struct {
	seq  uint64
	subs map[*Client]struct{}
}

// Hub owns every subscription; all requests go through its goroutine, so replies and messages
// reach each client in order.
type Hub struct {
	clients    map[*Client]struct{}
	channels   map[string]*channel
	register   chan *Client
	unregister chan *Client
	requests   chan inbound
}

func newHub() *Hub {
	return &Hub{
		clients:    make(map[*Client]struct{}),
		channels:   make(map[string]*channel),
		register:   make(chan *Client),
		unregister: make(chan *Client),
		requests:   make(chan inbound, 1024),
	}
}

func (h *Hub) run() {
	for {
		select {
		case c := <-h.register:
			h.clients[c] = struct{}{}
		case c := <-h.unregister:
			h.drop(c)
		case in := <-h.requests:
			if in.errCode != "" {
				h.reply(in.client, errorReply(in.errCode, errorText[in.errCode], in.req.ID))
			} else {
				h.handle(in.client, &in.req)
			}
		}
	}
}

// drop forgets a client and closes its send channel (its writePump then closes the socket).
func (h *Hub) drop(c *Client) {
	if _, ok := h.clients[c]; !ok {
		return
	}
	delete(h.clients, c)
	for name := range c.channels {
		if ch := h.channels[name]; ch != nil {
			delete(ch.subs, c)
		}
	}
	close(c.send)
}

// deliver queues a frame for c, dropping c when its queue is full (the gorilla hub pattern).
func (h *Hub) deliver(c *Client, pm *websocket.PreparedMessage) {
	select {
	case c.send <- pm:
	default:
		h.drop(c)
	}
}

func (h *Hub) reply(c *Client, b []byte) {
	if _, ok := h.clients[c]; !ok {
		return
	}
	pm, err := websocket.NewPreparedMessage(websocket.TextMessage, b)
	if err == nil {
		h.deliver(c, pm)
	}
}

func (h *Hub) handle(c *Client, r *request) {
	if _, ok := h.clients[c]; !ok {
		return
	}
	switch r.Type {
	case "subscribe", "unsubscribe", "publish":
	case "ping":
		h.reply(c, withID([]byte(`{"type":"pong"`), r.ID))
		return
	default:
		h.reply(c, errorReply("unknown_type", "unknown request type", r.ID))
		return
	}
	if r.Channel == nil {
		h.reply(c, errorReply("missing_channel", "channel is required", r.ID))
		return
	}
	name := *r.Channel
	if !validChannel(name) {
		h.reply(c, errorReply("invalid_channel", "channel must be 1-128 bytes of [A-Za-z0-9_.:@/-]", r.ID))
		return
	}
	switch r.Type {
	case "subscribe":
		ch := h.channels[name]
		if ch == nil {
			ch = &channel{subs: make(map[*Client]struct{})}
			h.channels[name] = ch
		}
		ch.subs[c] = struct{}{}
		c.channels[name] = struct{}{}
		h.reply(c, withID([]byte(`{"type":"subscribed","channel":"`+name+`"`), r.ID))
	case "unsubscribe":
		ch := h.channels[name]
		if _, ok := c.channels[name]; !ok || ch == nil {
			h.reply(c, errorReply("not_subscribed", "not subscribed to "+name, r.ID))
			return
		}
		delete(ch.subs, c)
		delete(c.channels, name)
		h.reply(c, withID([]byte(`{"type":"unsubscribed","channel":"`+name+`"`), r.ID))
	case "publish":
		if len(r.Data) == 0 {
			h.reply(c, errorReply("missing_data", "publish needs data", r.ID))
			return
		}
		ch := h.channels[name]
		if ch == nil {
			ch = &channel{subs: make(map[*Client]struct{})}
			h.channels[name] = ch
		}
		ch.seq++
		// Encoded and framed once, written to every subscriber.
		b := make([]byte, 0, 64+len(name)+len(c.id)+len(r.Data))
		b = append(b, `{"type":"message","channel":"`...)
		b = append(b, name...)
		b = append(b, `","seq":`...)
		b = strconv.AppendUint(b, ch.seq, 10)
		b = append(b, `,"from":"`...)
		b = append(b, c.id...)
		b = append(b, `","data":`...)
		b = append(b, r.Data...)
		b = append(b, '}')
		if pm, err := websocket.NewPreparedMessage(websocket.TextMessage, b); err == nil {
			for sub := range ch.subs {
				h.deliver(sub, pm)
			}
		}
		if len(r.ID) > 0 {
			h.reply(c, withID([]byte(`{"type":"ack"`), r.ID))
		}
	}
}

var errorText = map[string]string{
	"bad_json":    "the frame is not valid JSON",
	"bad_request": "not a request object",
	"invalid_id":  "id must be a string or a number",
}

// withID closes a reply object, adding "id" when the request had one.
func withID(b []byte, id json.RawMessage) []byte {
	if len(id) > 0 {
		b = append(b, `,"id":`...)
		b = append(b, id...)
	}
	return append(b, '}')
}

func errorReply(code, message string, id json.RawMessage) []byte {
	m, _ := json.Marshal(message)
	return withID([]byte(`{"type":"error","code":"`+code+`","message":`+string(m)), id)
}

func validChannel(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_.:@/-", c) >= 0) {
			return false
		}
	}
	return true
}

// validID: an id must be a JSON string or number.
func validID(id json.RawMessage) bool {
	return len(id) == 0 || id[0] == '"' || id[0] == '-' || (id[0] >= '0' && id[0] <= '9')
}

// readPump parses requests and hands them to the hub.
func (c *Client) readPump() {
	defer func() {
		c.hub.unregister <- c
		c.conn.Close()
	}()
	c.conn.SetReadLimit(maxMessageSize)
	c.conn.SetReadDeadline(time.Now().Add(pongWait))
	c.conn.SetPongHandler(func(string) error { c.conn.SetReadDeadline(time.Now().Add(pongWait)); return nil })
	for {
		kind, message, err := c.conn.ReadMessage()
		if err != nil {
			return
		}
		c.conn.SetReadDeadline(time.Now().Add(pongWait))
		if kind != websocket.TextMessage {
			c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseUnsupportedData, "binary frame"), time.Now().Add(writeWait))
			return
		}
		in := inbound{client: c}
		if err := json.Unmarshal(message, &in.req); err != nil {
			in = inbound{client: c, errCode: "bad_json"}
		} else if !validID(in.req.ID) {
			in = inbound{client: c, errCode: "invalid_id"}
		} else if in.req.Type == "" {
			in.errCode = "bad_request"
		}
		c.hub.requests <- in
	}
}

// writePump writes queued frames and pings; it is the connection's only writer of data frames.
func (c *Client) writePump() {
	ticker := time.NewTicker(heartbeat)
	defer func() {
		ticker.Stop()
		c.conn.Close()
	}()
	for {
		select {
		case pm, ok := <-c.send:
			c.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if !ok {
				// The hub dropped us: queue full (slow consumer).
				c.conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(4002, "slow consumer"))
				return
			}
			if err := c.conn.WritePreparedMessage(pm); err != nil {
				return
			}
		case <-ticker.C:
			c.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := c.conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				return
			}
		}
	}
}

var nextID atomic.Uint64

func serveWs(hub *Hub, w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	id := "c" + strconv.FormatUint(nextID.Add(1), 16)
	c := &Client{hub: hub, conn: conn, id: id, send: make(chan *websocket.PreparedMessage, sendQueue), channels: make(map[string]struct{})}
	welcome, _ := websocket.NewPreparedMessage(websocket.TextMessage,
		[]byte(`{"type":"welcome","client":"`+id+`","server":"`+serverName+`","heartbeat_s":`+strconv.Itoa(int(heartbeat/time.Second))+`}`))
	c.send <- welcome
	hub.register <- c
	go c.writePump()
	go c.readPump()
}

// serveEcho echoes every message with its type (text stays text, binary stays binary).
func serveEcho(w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer conn.Close()
	conn.SetReadLimit(maxEchoSize)
	for {
		kind, reader, err := conn.NextReader()
		if err != nil {
			return
		}
		writer, err := conn.NextWriter(kind)
		if err != nil {
			return
		}
		if _, err := io.Copy(writer, reader); err != nil {
			return
		}
		if err := writer.Close(); err != nil {
			return
		}
	}
}

func main() {
	host := flag.String("host", "127.0.0.1", "address to listen on")
	port := flag.Int("port", 8080, "TCP port")
	flag.Parse()
	hub := newHub()
	go hub.run()
	http.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) { serveWs(hub, w, r) })
	http.HandleFunc("/echo", serveEcho)
	addr := *host + ":" + strconv.Itoa(*port)
	log.Printf("%s listening on ws://%s/ws (GOMAXPROCS %d, %s)", serverName, addr, runtime.GOMAXPROCS(0), runtime.Version())
	log.Fatal(http.ListenAndServe(addr, nil))
}
