// Package web serves the hub's page and its HTTP API: the devices, their
// history, the event log with the causes of each event, the automations
// with their traces, reloads and what-if runs, and a live stream of events
// (Server-Sent Events) that keeps open pages current.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"hearth"
)

// BrokerHealth says why the hub cannot reach the external broker it rides
// on now (not connected since when); nil while it can.
type BrokerHealth interface {
	ConnErr() error
}

// Progress reports how far the event stream and the log have got.
type Progress interface {
	// NextSeq is the sequence number the next event will get.
	NextSeq() uint64
	// Durable is the sequence number up to which the log is on disk.
	Durable() uint64
	// DurableErr says why the log cannot be written now (a full or
	// read-only disk); nil while it can.
	DurableErr() error
}

// EventLog reads the append-only log: pages of events and single events.
// *store.Store satisfies it.
type EventLog interface {
	hearth.EventLog
	// Event returns the event with sequence number seq; an error with a
	// NotFound() bool method that returns true when there is none.
	Event(ctx context.Context, seq uint64) (hearth.Event, error)
}

// History summarises an attribute of a device over time from the log.
// *store.Store satisfies it.
type History interface {
	History(ctx context.Context, q hearth.HistoryQuery) ([]hearth.HistoryPoint, error)
}

// MetaStore keeps the names and rooms people give devices. *store.Store
// satisfies it.
type MetaStore interface {
	// DeviceMeta returns the names and rooms by device id.
	DeviceMeta(ctx context.Context) (map[string]hearth.DeviceMeta, error)
	// SetDeviceMeta replaces the name and room of a device.
	SetDeviceMeta(ctx context.Context, id string, m hearth.DeviceMeta) error
}

// DeviceInfos tells what the hub learned about devices besides their state
// (the devices file, discovery). The registry of package devices satisfies it.
type DeviceInfos interface {
	Info(id string) (hearth.DeviceInfo, bool)
}

// Stream is the live event stream the page follows. *hearth.Bus satisfies it.
type Stream interface {
	// Subscribe starts a subscriber at the next event to be published.
	Subscribe(name string, d hearth.Delivery) *hearth.Subscription
	// NextSeq is the sequence number the next event will get.
	NextSeq() uint64
	// WaitDurable waits until the event seq is in the log, so that a
	// reconnecting page can be replayed what it missed from the log.
	WaitDurable(ctx context.Context, seq uint64) error
}

// Options are what the web server needs. Only Devices is required: a part
// left nil makes its endpoints answer 503.
type Options struct {
	// Addr is the listen address, such as ":8080" or "127.0.0.1:0".
	Addr string
	// Devices is the device read model.
	Devices hearth.DeviceReader
	// Log reads the event log.
	Log EventLog
	// History answers the history charts.
	History History
	// Meta keeps the device names and rooms set on the page.
	Meta MetaStore
	// Info gives names and rooms from the devices file or discovery, shown
	// when none was set on the page; nil for none.
	Info DeviceInfos
	// Commander sends the page's commands to devices (the broker).
	Commander hearth.Commander
	// BaseTopic is the topic devices live under ("home"); commands go to
	// <BaseTopic>/<id>/set. "home" when empty.
	BaseTopic string
	// Stream is the live event stream (the bus).
	Stream Stream
	// Automations lists and controls the automations; nil until the engine
	// provides it, and the page says so.
	Automations Automations
	// Reloader reloads the automations from their files; nil when the hub
	// has none (the demo), and POST /api/automations/reload answers 503.
	Reloader Reloader
	// WhatIf runs automations written on the page against the log; nil
	// makes POST /api/automations/whatif answer 503.
	WhatIf WhatIfRunner
	// Progress reports the stream and log positions for /healthz.
	Progress Progress
	// Broker tells /healthz whether the hub reaches the MQTT broker it
	// rides on; nil with the embedded broker.
	Broker BrokerHealth
	// PageChannels name the notification channels whose notifications
	// the page lists and the browser shows; ["page"] when empty.
	PageChannels []string
	// Metrics serves /metrics in the Prometheus text format; nil for none.
	Metrics http.Handler
	// Accounts keeps the page's users, sessions and API tokens. With it,
	// the page answers only on this machine until someone exists, and then
	// only to people logged in (or scripts with a token). nil turns access
	// control off: only for tests and for embedding behind another gate.
	Accounts Accounts
	// Logger receives request errors.
	Logger *slog.Logger
}

// Server is the hub's HTTP server.
type Server struct {
	opts   Options
	log    *slog.Logger
	srv    *http.Server
	ln     net.Listener
	wg     sync.WaitGroup
	start  time.Time
	handle http.Handler
	assets *assets

	// ctx ends live streams when the server closes: http.Server.Shutdown
	// does not cancel the requests it waits for.
	ctx         context.Context
	cancel      context.CancelFunc
	heartbeat   time.Duration
	readTimeout time.Duration // of a request; a live stream lifts it
	now         func() time.Time
	whatIfSlot  chan struct{} // one what-if at a time: each replays a lot of the log

	isLocal func(*http.Request) bool // whether a request came from this machine
	logins  *limiter                 // login and setup attempts
	setup   setupCode                // the one-time code for the first user
}

// New makes a server; Start makes it listen.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.BaseTopic = strings.Trim(o.BaseTopic, "/")
	if o.BaseTopic == "" {
		o.BaseTopic = "home"
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts: o, log: o.Logger.With("component", "web"), start: time.Now(),
		ctx: ctx, cancel: cancel, heartbeat: heartbeatEvery, readTimeout: 30 * time.Second, now: time.Now,
		assets: loadAssets(), whatIfSlot: make(chan struct{}, 1),
		isLocal: isLoopback, logins: newLimiter(loginLimit, loginWindow),
	}
	s.handle = s.routes()
	return s
}

// Handler returns the server's routes, for tests and embedding.
func (s *Server) Handler() http.Handler { return s.handle }

// Start listens on the configured address and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("web listen %s: %w", s.opts.Addr, err)
	}
	s.ln = ln
	s.announceSetup(ln.Addr())
	s.srv = &http.Server{
		Handler:           s.handle,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       s.readTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("serve", "err", err)
		}
	}()
	return nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close ends the live streams, stops accepting requests and waits for
// those in flight, until ctx ends. Call it also for a server that was only
// used through Handler, so that its streams end.
func (s *Server) Close(ctx context.Context) error {
	s.cancel()
	if s.srv == nil {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	s.wg.Wait()
	return err
}
