// Package web serves the hub's HTTP API (and, later, its page).
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"hearth"
)

// Progress reports how far the event stream and the log have got.
type Progress interface {
	// NextSeq is the sequence number the next event will get.
	NextSeq() uint64
	// Durable is the sequence number up to which the log is on disk.
	Durable() uint64
}

// Options are what the web server needs.
type Options struct {
	// Addr is the listen address, such as ":8080" or "127.0.0.1:0".
	Addr string
	// Devices is the device read model.
	Devices hearth.DeviceReader
	// Log reads the event log.
	Log hearth.EventLog
	// Progress reports the stream and log positions for /healthz.
	Progress Progress
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
}

// New makes a server; Start makes it listen.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Server{opts: o, log: o.Logger.With("component", "web"), start: time.Now()}
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
	s.srv = &http.Server{
		Handler:           s.handle,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
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

// Close stops accepting requests and waits for those in flight, until ctx ends.
func (s *Server) Close(ctx context.Context) error {
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
