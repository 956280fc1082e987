package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"path/filepath"
	"sync"
	"time"

	"hearth"
	"hearth/automations"
	"hearth/broker"
	"hearth/devices"
	"hearth/devices/sim"
	"hearth/examples"
	"hearth/store"
	"hearth/web"
)

// shutdownTimeout bounds how long Close waits for each part to stop.
const shutdownTimeout = 10 * time.Second

// App is the whole hub wired together. Tests start it on 127.0.0.1:0 with a
// temporary data folder.
type App struct {
	log     *slog.Logger
	store   *store.Store
	bus     *hearth.Bus
	devices *devices.Registry
	engine  *automations.Engine
	broker  *broker.Broker
	web     *web.Server
	house   *sim.House
	counter *eventCounter

	cancel   context.CancelFunc
	wg       sync.WaitGroup
	errMu    sync.Mutex
	errs     []error
	failed   chan struct{} // closed when a consumer stopped with an error
	failOnce sync.Once

	automationsPath string
	stopWatch       context.CancelFunc
	closeOnce       sync.Once
	closeErr        error
}

// Start opens the log, restores the device read model, loads the
// automations and starts the broker and the web server. A bad automations
// file stops it here, before anything listens.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (a *App, err error) {
	a = &App{log: log, failed: make(chan struct{}), automationsPath: cfg.Automations}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()

	if a.store, err = store.Open(filepath.Join(cfg.DataDir, "hearth.db"), log); err != nil {
		return a, err
	}
	a.devices = devices.New(cfg.BaseTopic, log)
	next, err := a.restore(ctx)
	if err != nil {
		return a, err
	}
	a.bus = hearth.NewBus(hearth.BusOptions{NextSeq: next, Durable: true})
	a.bus.AddStage(a.devices)

	runCtx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	storeSub := a.bus.Subscribe("store", hearth.MustNotMiss)
	a.goRun("store", func() error { return a.store.Run(runCtx, storeSub, a.bus) })
	a.counter = &eventCounter{counts: map[hearth.Kind]uint64{}}
	counterSub := a.bus.Subscribe("metrics", hearth.MustNotMiss)
	a.goRun("metrics", func() error { return a.counter.run(runCtx, counterSub) })

	if a.broker, err = broker.New(broker.Config{Addr: cfg.MQTTAddr, Logger: log}, a.bus); err != nil {
		return a, err
	}
	a.engine = automations.New(automations.Options{
		Commander: a.broker,
		Devices:   a.devices,
		Clock:     automations.RealClock(),
		Logger:    log,
		BaseTopic: cfg.BaseTopic,
		Persist:   a.store,
		Events:    a.bus,
		Log:       a.store,
		Latitude:  cfg.Location.Latitude,
		Longitude: cfg.Location.Longitude,
	})
	if err = a.loadAutomations(cfg); err != nil {
		return a, err
	}
	engineSub := a.bus.Subscribe("automations", hearth.MustNotMiss)
	a.goRun("automations", func() error { return a.engine.Consume(runCtx, engineSub) })
	if cfg.Automations != "" {
		watchCtx, stopWatch := context.WithCancel(runCtx)
		a.stopWatch = stopWatch
		a.goRun("automations watcher", func() error { return a.watchAutomations(watchCtx, cfg.Automations) })
	}

	if err = a.broker.Start(); err != nil {
		return a, err
	}
	a.web = web.New(web.Options{
		Addr:        cfg.HTTPAddr,
		Devices:     a.devices,
		Log:         a.store,
		History:     a.store,
		Meta:        a.store,
		Info:        a.devices,
		Commander:   a.broker,
		BaseTopic:   cfg.BaseTopic,
		Stream:      a.bus,
		Automations: a.engine,
		Progress:    a.bus,
		Metrics:     a.metricsHandler(),
		Logger:      log,
	})
	if err = a.web.Start(); err != nil {
		return a, err
	}

	if cfg.Demo {
		seed := uint64(time.Now().UnixNano())
		a.house, err = sim.NewHouse(sim.Demo(), sim.Options{BaseTopic: cfg.BaseTopic, Log: log, Rand: rand.New(rand.NewPCG(seed, seed>>32))})
		if err != nil {
			return a, fmt.Errorf("demo house: %w", err)
		}
		if err = a.house.Start(ctx, "tcp://"+dialAddr(a.broker.Addr())); err != nil {
			return a, fmt.Errorf("demo house: %w", err)
		}
	}
	log.Info("hub started", "next_seq", next, "automations", cfg.Automations, "demo", cfg.Demo)
	return a, nil
}

// loadAutomations loads the configured automations (or the demo's) into the
// engine. Mistakes stop the hub from starting; doubts (a device not seen
// yet) are logged as warnings.
func (a *App) loadAutomations(cfg Config) error {
	var set *automations.Set
	var err error
	switch {
	case cfg.Automations != "":
		set, err = a.engine.Load(cfg.Automations)
	case cfg.Demo:
		set, err = a.engine.LoadBytes(examples.DemoName, examples.Demo)
	default:
		return nil
	}
	if err != nil {
		return fmt.Errorf("automations: %w", err)
	}
	for _, w := range set.Warnings() {
		a.log.Warn("automations: " + w.String())
	}
	changes := a.engine.Replace(set)
	a.log.Info("automations loaded", "count", set.Len(), "changes", changes.String())
	return nil
}

// restore loads the persisted read model, applies the log past it, and
// returns the sequence number the next event gets.
func (a *App) restore(ctx context.Context) (uint64, error) {
	states, stateSeq, err := a.store.Devices(ctx)
	if err != nil {
		return 0, fmt.Errorf("restore devices: %w", err)
	}
	a.devices.Restore(states)
	err = a.store.Replay(ctx, stateSeq+1, func(e hearth.Event) error {
		a.devices.ApplyLogged(e)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("replay log after %d: %w", stateSeq, err)
	}
	last, err := a.store.LastSeq(ctx)
	if err != nil {
		return 0, fmt.Errorf("read log end: %w", err)
	}
	return last + 1, nil
}

// goRun runs a consumer until it returns, keeping its error for Close.
func (a *App) goRun(name string, f func() error) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := f(); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("stopped", "component", name, "err", err)
			a.errMu.Lock()
			a.errs = append(a.errs, fmt.Errorf("%s: %w", name, err))
			a.errMu.Unlock()
			a.failOnce.Do(func() { close(a.failed) })
		}
	}()
}

// Failed is closed when a part of the hub that must not stop (the log, the
// automations) stopped with an error; the hub should then exit so that its
// supervisor restarts it, rather than run on without a log.
func (a *App) Failed() <-chan struct{} { return a.failed }

// MQTTAddr returns the broker's listen address.
func (a *App) MQTTAddr() net.Addr { return a.broker.Addr() }

// HTTPAddr returns the web server's listen address.
func (a *App) HTTPAddr() net.Addr { return a.web.Addr() }

// Close stops the hub in the reverse order of Start: the simulated house,
// the web server, the broker (no more events come in), the automations; then
// the bus is closed so that the log drains, commits and closes. Calling it
// again returns the first call's result.
func (a *App) Close() error {
	a.closeOnce.Do(func() { a.closeErr = a.close() })
	return a.closeErr
}

func (a *App) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	var errs []error
	if a.stopWatch != nil {
		a.stopWatch()
	}
	if a.house != nil {
		a.house.Close()
	}
	if a.web != nil {
		errs = append(errs, a.web.Close(ctx))
	}
	if a.broker != nil {
		errs = append(errs, a.broker.Close())
	}
	if a.engine != nil {
		a.engine.Close()
	}
	if a.bus != nil {
		a.bus.Close() // consumers drain what is left, the store commits it
	}
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, errors.New("consumers did not stop in time"))
	}
	if a.cancel != nil {
		a.cancel()
		<-done
	}
	if a.store != nil {
		errs = append(errs, a.store.Close())
	}
	a.errMu.Lock()
	errs = append(errs, a.errs...)
	a.errMu.Unlock()
	return errors.Join(errs...)
}

// browseAddr is the address a person types in a browser on this machine.
func browseAddr(addr net.Addr) string {
	host, port, err := net.SplitHostPort(dialAddr(addr))
	if err != nil || host != "127.0.0.1" {
		return dialAddr(addr)
	}
	return net.JoinHostPort("localhost", port)
}

// dialAddr turns a listen address such as [::]:1883 into one a local client
// can dial.
func dialAddr(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
