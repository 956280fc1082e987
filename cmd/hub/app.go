package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"hearth"
	"hearth/automations"
	"hearth/broker"
	"hearth/devices"
	"hearth/devices/sim"
	"hearth/examples"
	"hearth/notify"
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
	lock    *store.LogLock // nil without the recorder role
	bus     *hearth.Bus
	devices *devices.Registry
	engine  *automations.Engine
	broker  *broker.Broker // the embedded broker, nil with an external one
	remote  *broker.Remote // the external broker, nil with the embedded one
	bridges []*broker.Bridge
	web     *web.Server
	house   *sim.House
	counter *eventCounter
	notify  *notify.Notifier
	own     *ownDevices // the house mode, the alarm, people
	pruner  *pruner     // the log's retention, nil without the recorder role
	pprof   *profiler   // nil without --pprof

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

	if cfg.Pprof != "" {
		if a.pprof, err = startProfiler(cfg.Pprof, log); err != nil {
			return a, err
		}
	}
	dbPath := filepath.Join(cfg.DataDir, "hearth.db")
	if cfg.runs(roleRecorder) {
		// Before Open, which may migrate the file under another hub.
		if a.lock, err = store.Lock(dbPath); err != nil {
			return a, err
		}
	}
	if a.store, err = store.Open(dbPath, log); err != nil {
		return a, err
	}
	a.store.SetDiskTrouble(cfg.DiskTrouble.store())
	if a.devices, err = newRegistry(cfg, log); err != nil {
		return a, err
	}
	next, err := a.restore(ctx)
	if err != nil {
		return a, err
	}
	// Without the recorder role nothing here logs events, so nothing waits
	// for the log: the recorder elsewhere acknowledges what it logged.
	a.bus = hearth.NewBus(hearth.BusOptions{NextSeq: next, Durable: cfg.runs(roleRecorder)})
	a.bus.AddStage(a.devices)

	runCtx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	if cfg.runs(roleRecorder) {
		storeSub := a.bus.Subscribe("store", hearth.MustNotMiss)
		a.goRun("store", func() error { return a.store.Run(runCtx, storeSub, a.bus) })
		if cfg.Retention.on() {
			a.pruner = startPruner(a.store, cfg.Retention, configPrefixes(a.devices.ConfigFilters()), log)
		}
	}
	a.counter = &eventCounter{counts: map[hearth.Kind]uint64{}}
	counterSub := a.bus.Subscribe("metrics", hearth.MustNotMiss)
	a.goRun("metrics", func() error { return a.counter.run(runCtx, counterSub) })

	var mqtt hearth.Commander
	if cfg.Broker != nil {
		rc := *cfg.Broker
		rc.Logger = log
		if a.remote, err = broker.NewRemote(rc, a.bus); err != nil {
			return a, err
		}
		mqtt = a.remote
	} else {
		if a.broker, err = broker.New(cfg.brokerConfig(log), a.bus); err != nil {
			return a, err
		}
		mqtt = a.broker
	}
	commander := deviceCommander{next: mqtt, translate: a.devices, base: cfg.BaseTopic}

	if cfg.runs(roleAutomations) {
		clock := cfg.clock
		if clock == nil {
			clock = automations.RealClock()
		}
		// The engine hears everything from here on, before the hub's own
		// devices start: an alarm whose entry delay ran out while the hub
		// was down goes off as it starts, and its automations must see it.
		// What comes before Consume waits in the subscription.
		engineSub := a.bus.Subscribe("automations", hearth.MustNotMiss)
		if a.own, err = a.startOwnDevices(runCtx, cfg.House, cfg.Alarm, cfg.Demo, mqtt, alarmClock{clock}); err != nil {
			return a, err
		}
		if a.notify, err = newNotifier(cfg, a.bus, log); err != nil {
			return a, err
		}
		a.engine = automations.New(automations.Options{
			Notifier:  a.notify,
			Channels:  a.notify.Channels(),
			Commander: commander,
			Devices:   a.devices,
			Infos:     a.devices,
			// What-if runs plan commands through the same translation.
			PlanThrough: func(rec hearth.Commander) hearth.Commander {
				return deviceCommander{next: rec, translate: a.devices, base: cfg.BaseTopic}
			},
			Clock:     clock,
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
		a.goRun("automations", func() error { return a.engine.Consume(runCtx, engineSub) })
		if cfg.Automations != "" {
			watchCtx, stopWatch := context.WithCancel(runCtx)
			a.stopWatch = stopWatch
			a.goRun("automations watcher", func() error { return a.watchAutomations(watchCtx, cfg.Automations) })
		}
	}

	// Messages flow from here on: every subscriber above is in place.
	if a.remote != nil {
		startCtx, cancelStart := context.WithTimeout(ctx, 30*time.Second)
		err = a.remote.Start(startCtx)
		cancelStart()
		if err != nil {
			return a, fmt.Errorf("external broker %s: %w", cfg.Broker.Endpoint.LogValue(), err)
		}
	} else {
		if cfg.runs(roleRecorder) {
			// What clients retained outlives the restart, as on Mosquitto.
			retained, err := a.store.Retained(ctx)
			if err != nil {
				return a, err
			}
			if err := a.broker.Retain(retained); err != nil {
				return a, err
			}
		}
		if err = a.broker.Start(); err != nil {
			return a, err
		}
		for _, bc := range cfg.Bridges {
			bc.Logger = log
			b, err := broker.NewBridge(a.broker, bc)
			if err == nil {
				err = b.Start(ctx)
			}
			if err != nil {
				return a, fmt.Errorf("bridge %s: %w", bc.Name, err)
			}
			a.bridges = append(a.bridges, b)
		}
	}

	if cfg.runs(roleWeb) {
		opts := web.Options{
			Addr:      cfg.HTTPAddr,
			Devices:   a.devices,
			Log:       a.store,
			History:   a.store,
			Meta:      a.store,
			Info:      a.devices,
			Commander: commander,
			BaseTopic: cfg.BaseTopic,
			Stream:    a.bus,
			Progress:  a.bus,
			Metrics:   a.metricsHandler(),
			Accounts:  a.store,
			Logger:    log,
		}
		opts.PageChannels = pageChannels(cfg.Notify.Channels)
		if a.remote != nil {
			opts.Broker = a.remote
		}
		if a.engine != nil {
			opts.Automations = a.engine
			opts.Reloader = a.webReloader() // webadapter.go
			opts.WhatIf = webAutomations{a}
		}
		a.web = web.New(opts)
		if err = a.web.Start(); err != nil {
			return a, err
		}
	}

	a.announce(ctx, cfg, mqtt)

	if cfg.Demo {
		if err = a.startDemoHouse(ctx, cfg); err != nil {
			return a, fmt.Errorf("demo house: %w", err)
		}
	}
	log.Info("hub started", "next_seq", next, "roles", cfg.Roles, "automations", cfg.Automations, "demo", cfg.Demo)
	// Loading the automations (YAML, expressions) and restoring the read
	// model leave several times the memory they keep as garbage: 1,000
	// automations peak at 100 MB (at startGCPercent) and keep 15. The Go
	// runtime would hand the pages back to the system over minutes; do it
	// now, off the start-up path, so that the hub's resident size is its
	// real one from the start.
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		debug.FreeOSMemory()
	}()
	return a, nil
}

// startDemoHouse connects the demo's simulated devices to the embedded
// broker, or to the external one the hub rides on, with its login.
func (a *App) startDemoHouse(ctx context.Context, cfg Config) error {
	seed := uint64(time.Now().UnixNano())
	o := sim.Options{BaseTopic: cfg.BaseTopic, Log: a.log, Rand: rand.New(rand.NewPCG(seed, seed>>32))}
	url := ""
	if cfg.Broker != nil {
		url, o.Username = cfg.Broker.URL, cfg.Broker.Username
		var err error
		if o.Password, err = cfg.Broker.ThePassword(); err != nil {
			return err
		}
		if o.TLS, err = cfg.Broker.ClientTLS(); err != nil {
			return err
		}
	} else {
		url = "tcp://" + dialAddr(a.MQTTAddr())
	}
	house, err := sim.NewHouse(sim.Demo(), o)
	if err != nil {
		return err
	}
	a.house = house
	return house.Start(ctx, url)
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
		set, err = a.engine.LoadDocs(
			automations.Doc{Name: examples.DemoName, Data: examples.Demo},
			automations.Doc{Name: examples.AlarmName, Data: examples.Alarm})
	default:
		return nil
	}
	if err != nil {
		return fmt.Errorf("automations: %w", err)
	}
	// On a new hub (or the demo's, whose devices connect a moment later) no
	// device has spoken yet, and "not seen yet" would be said of them all.
	if !a.devices.Heard() || cfg.Demo {
		if n := len(set.Warnings()); n > 0 {
			a.log.Info("automations name devices or attributes not heard of yet; the page lists them", "count", n)
		}
	} else {
		for _, w := range set.Warnings() {
			a.log.Warn("automations: " + w.String())
		}
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
	// What adapters learned from retained configuration (Home Assistant
	// discovery, Zigbee2MQTT's device list) is not part of the state: read
	// the newest of those messages again.
	configs, err := a.store.LatestMessages(ctx, configPrefixes(a.devices.ConfigFilters()))
	if err != nil {
		return 0, fmt.Errorf("restore device configuration: %w", err)
	}
	for _, e := range configs {
		if a.devices.IsConfigTopic(e.Topic) {
			a.devices.ApplyLogged(e)
		}
	}
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

// newRegistry makes the device read model with the configured adapters and
// devices file.
func newRegistry(cfg Config, log *slog.Logger) (*devices.Registry, error) {
	adapters := adapterConfigs(cfg)
	var file *devices.File
	if cfg.DevicesFile != "" {
		var err error
		if file, err = devices.LoadFile(cfg.DevicesFile); err != nil {
			return nil, fmt.Errorf("devices file: %w", err)
		}
	}
	reg, err := devices.NewRegistry(devices.Options{
		BaseTopic: cfg.BaseTopic, Adapters: adapters, File: file, Logger: log,
		Presence: presenceConfig(cfg.Presence, cfg.Location), MaxDevices: cfg.MaxDevices,
	})
	if err != nil {
		return nil, fmt.Errorf("devices: %w", err)
	}
	return reg, nil
}

// adapterConfigs are the adapters the configuration turns on: all of them
// unless it lists some.
func adapterConfigs(cfg Config) []devices.AdapterConfig {
	if cfg.Adapters == nil {
		return devices.Adapters()
	}
	out := make([]devices.AdapterConfig, 0, len(cfg.Adapters))
	for _, a := range cfg.Adapters {
		out = append(out, devices.AdapterConfig{Name: a.Name, BaseTopic: a.BaseTopic})
	}
	return out
}

// announce tells Home Assistant MQTT devices (ESPHome, Zigbee2MQTT's
// discovery, Tasmota's) that a controller is online, as Home Assistant's
// birth message does: they send their discovery configuration again.
func (a *App) announce(ctx context.Context, cfg Config, mqtt hearth.Commander) {
	for _, ad := range adapterConfigs(cfg) {
		if ad.Name != "homeassistant" {
			continue
		}
		prefix := ad.BaseTopic
		if prefix == "" {
			prefix = "homeassistant"
		}
		c := hearth.Command{Topic: prefix + "/status", Payload: []byte("online"), Cause: hearth.Cause{Source: "hub"}}
		if _, err := mqtt.Command(ctx, c); err != nil {
			a.log.Warn("could not announce the hub to Home Assistant devices", "topic", c.Topic, "err", err)
		}
	}
}

// literalPrefix is the part of a topic filter before its first wildcard.
func literalPrefix(filter string) string {
	for i, c := range filter {
		if c == '+' || c == '#' {
			return filter[:i]
		}
	}
	return filter
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
// supervisor restarts it, rather than run on without a log. A full or
// read-only disk is not such an error: the log waits it out and the house
// keeps working (store.DiskTrouble).
func (a *App) Failed() <-chan struct{} { return a.failed }

// MQTTAddr returns the embedded broker's listen address, nil with an
// external broker.
func (a *App) MQTTAddr() net.Addr {
	if a.broker == nil {
		return nil
	}
	return a.broker.Addr()
}

// HTTPAddr returns the web server's listen address, nil without the web role.
func (a *App) HTTPAddr() net.Addr {
	if a.web == nil {
		return nil
	}
	return a.web.Addr()
}

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
	a.pruner.Close() // between two of its transactions, before the store closes
	if a.house != nil {
		a.house.Close()
	}
	if a.web != nil {
		errs = append(errs, a.web.Close(ctx))
	}
	for _, b := range a.bridges {
		errs = append(errs, b.Close())
	}
	if a.broker != nil {
		errs = append(errs, a.broker.Close())
	}
	if a.remote != nil {
		errs = append(errs, a.remote.Close())
	}
	a.own.Close() // after the broker: no more commands reach it
	if a.engine != nil {
		a.engine.Close()
	}
	if a.notify != nil {
		a.notify.Close() // after the runs that notify, before the bus its outcomes go to
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
	errs = append(errs, a.lock.Close()) // after the log is closed
	errs = append(errs, a.pprof.Close(ctx))
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
