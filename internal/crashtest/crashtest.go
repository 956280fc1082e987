// Package crashtest kills the hub with SIGKILL while clients publish QoS 1
// messages, restarts it on the same data folder, and checks what survived:
// every acknowledged message is in the log (exactly once unless its client
// had to send it again, see Verdict), the database passes SQLite's
// integrity check, the persisted device state equals the fold of the log
// and what the restarted hub serves, and the delay that was pending when
// the hub died fires after the restart.
//
// The cmd/hub test runs a few cycles on the test binary; scripts/crash runs
// many on a release build. They differ only in how they start the hub.
package crashtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"hearth"
	"hearth/store"
)

// Hub is one run of the hub process.
type Hub interface {
	MQTTAddr() string
	HTTPAddr() string
	// Kill ends the process with SIGKILL and waits until it is gone.
	Kill() error
	// Stop ends it with SIGTERM and waits; an unclean exit is an error.
	Stop() error
}

// Config says what Run does. Zero values take the defaults.
type Config struct {
	// Dir is a folder for the run alone: the hub's data folder and its
	// automations file go in it.
	Dir string
	// Cycles is how many times the hub is killed and restarted (default 3).
	Cycles int
	// Clients is how many load clients publish (default 4), each with up
	// to Window messages waiting for their PUBACK (default 32).
	Clients, Window int
	// Delay is the automation's delay, armed before each kill (default 3s).
	Delay time.Duration
	// KillWithin bounds the random moment of the kill, counted from when
	// the load is flowing and the delay is stored (default 1s). Keep it
	// well under Delay, or the delay may fire before the kill.
	KillWithin time.Duration
	// Seed makes the kill moments repeatable.
	Seed uint64
	// Start starts the hub on the data folder with the automations file
	// and returns once it listens.
	Start func(ctx context.Context, data, automations string) (Hub, error)
	// Report, when set, is called with each cycle's result as it ends.
	Report func(CycleResult)
}

func (c Config) withDefaults() Config {
	if c.Cycles <= 0 {
		c.Cycles = 3
	}
	if c.Clients <= 0 {
		c.Clients = 4
	}
	if c.Window <= 0 {
		c.Window = 32
	}
	if c.Delay <= 0 {
		c.Delay = 3 * time.Second
	}
	if c.KillWithin <= 0 {
		c.KillWithin = time.Second
	}
	return c
}

// CycleResult is what one kill and restart showed. The last result of a
// run (Final) is the check after every message was acknowledged and the
// hub stopped cleanly.
type CycleResult struct {
	Cycle int  // from 1; 0 for the final check
	Final bool // the check after the clean stop
	Verdict
	// InFlight is how many messages waited for their PUBACK at the kill.
	InFlight int
	// LastSeq is the last event in the log after the kill.
	LastSeq uint64
	// Integrity is SQLite's integrity check: nil when "ok".
	Integrity error
	// TimerPending is true when the cycle's delay was stored at the kill,
	// TimerFired when its command reached the watcher after the restart.
	TimerPending, TimerFired bool
	// Restart is the time from starting the hub to its saying it listens.
	Restart time.Duration
	// Problems lists every violation, with what was lost or wrong.
	Problems []string
}

// OK reports whether the cycle kept every promise.
func (r CycleResult) OK() bool { return len(r.Problems) == 0 }

// Summary is a whole run.
type Summary struct {
	Cycles []CycleResult
	Final  CycleResult
	Seed   uint64
}

// Problems lists the violations of every cycle and of the final check.
func (s Summary) Problems() []string {
	var out []string
	for _, r := range slices.Concat(s.Cycles, []CycleResult{s.Final}) {
		for _, p := range r.Problems {
			name := fmt.Sprintf("cycle %d", r.Cycle)
			if r.Final {
				name = "final check"
			}
			out = append(out, name+": "+p)
		}
	}
	return out
}

// run is one Run's state.
type run struct {
	cfg        Config
	data, auto string
	rng        *rand.Rand
	to         address
	pubs       []*publisher
	watch      *watcher
	scan       *logScan
	timers     map[int]uint64 // exercised cycle -> last seq before its restart
	loadCancel context.CancelFunc
	loadWG     sync.WaitGroup
	loadErrMu  sync.Mutex
	loadErr    error
}

// Run kills and restarts the hub cfg.Cycles times under load and checks
// each time. Violations are in the Summary; the error is for a run that
// could not go on (the hub did not start, a client could not connect).
func Run(ctx context.Context, cfg Config) (Summary, error) {
	cfg = cfg.withDefaults()
	r := &run{
		cfg:    cfg,
		data:   filepath.Join(cfg.Dir, "data"),
		auto:   filepath.Join(cfg.Dir, "automations.yaml"),
		rng:    rand.New(rand.NewPCG(cfg.Seed, cfg.Seed>>32|1)),
		scan:   newLogScan(),
		timers: map[int]uint64{},
	}
	sum := Summary{Seed: cfg.Seed}
	if err := os.WriteFile(r.auto, []byte(automations(cfg.Delay)), 0o600); err != nil {
		return sum, fmt.Errorf("write automations: %w", err)
	}
	hub, err := cfg.Start(ctx, r.data, r.auto)
	if err != nil {
		return sum, fmt.Errorf("start hub: %w", err)
	}
	defer func() {
		if hub != nil {
			_ = hub.Kill()
		}
	}()
	r.to.set(hub.MQTTAddr())

	r.watch = newWatcher(&r.to)
	defer r.watch.disconnect()
	if err := r.watch.connect(ctx); err != nil {
		return sum, err
	}
	loadCtx, cancel := context.WithCancel(ctx)
	r.loadCancel = cancel
	defer r.stopLoad()
	for i := range cfg.Clients {
		p := newPublisher(&r.to, i, cfg.Window)
		r.pubs = append(r.pubs, p)
		defer p.disconnect()
		if err := p.connect(ctx); err != nil {
			return sum, err
		}
		r.loadWG.Add(1)
		go func() {
			defer r.loadWG.Done()
			if err := p.run(loadCtx); err != nil {
				r.loadErrMu.Lock()
				r.loadErr = errors.Join(r.loadErr, err)
				r.loadErrMu.Unlock()
			}
		}()
	}

	for i := 1; i <= cfg.Cycles; i++ {
		var res CycleResult
		res, hub, err = r.cycle(ctx, i, hub)
		if err != nil {
			return sum, fmt.Errorf("cycle %d: %w", i, err)
		}
		sum.Cycles = append(sum.Cycles, res)
		if cfg.Report != nil {
			cfg.Report(res)
		}
	}

	sum.Final, err = r.final(ctx, hub)
	hub = nil // stopped, or killed by final on its way out
	if err != nil {
		return sum, fmt.Errorf("final check: %w", err)
	}
	if cfg.Report != nil {
		cfg.Report(sum.Final)
	}
	return sum, nil
}

func (r *run) stopLoad() {
	r.loadCancel()
	r.loadWG.Wait()
}

func (r *run) dbPath() string { return filepath.Join(r.data, "hearth.db") }

// timerStored reports whether the delay of cycle is stored. It is told
// apart by the tag in its trigger's payload, which a stored run keeps.
func timerStored(ctx context.Context, st *store.Store, cycle int) (bool, error) {
	ts, err := st.Timers(ctx)
	if err != nil {
		return false, err
	}
	tag := []byte(strconv.Quote(cycleTag(cycle)))
	for _, t := range ts {
		if t.Automation == "crash_timer" && bytes.Contains(t.State, tag) {
			return true, nil
		}
	}
	return false, nil
}

// armTimer triggers the cycle's delay and waits until the hub has stored
// it.
func (r *run) armTimer(ctx context.Context, cycle int) error {
	if err := r.watch.trigger(ctx, cycle); err != nil {
		return err
	}
	st, err := store.OpenReadOnly(r.dbPath(), nil)
	if err != nil {
		return err
	}
	defer st.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, err := timerStored(ctx, st, cycle)
		if ok || err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the delay of cycle %d was not stored within 30s", cycle)
		}
		if err := pause(ctx, 5*time.Millisecond); err != nil {
			return err
		}
	}
}

// acked counts the acknowledged messages of every client.
func (r *run) acked() int { return ackedBy(r.pubs...) }

// ackedBy counts the acknowledged messages of pubs.
func ackedBy(pubs ...*publisher) int {
	out := map[string]Outcome{}
	for _, p := range pubs {
		p.ledger.snapshot(out)
	}
	n := 0
	for _, o := range out {
		if o.Acked {
			n++
		}
	}
	return n
}

// waitLoad waits until every client has had more messages acknowledged
// since it was called: the hub is under load from all of them.
func (r *run) waitLoad(ctx context.Context) error {
	start := make([]int, len(r.pubs))
	for i, p := range r.pubs {
		start[i] = ackedBy(p)
	}
	deadline := time.Now().Add(30 * time.Second)
	for i, p := range r.pubs {
		for ackedBy(p) < start[i]+5 {
			if time.Now().After(deadline) {
				return fmt.Errorf("client %s had no PUBACK for 30s", p.id)
			}
			if err := pause(ctx, 5*time.Millisecond); err != nil {
				return err
			}
		}
	}
	return nil
}

// cycle arms the delay, kills the hub at a random moment under load,
// checks the folder it left, restarts it and checks again.
func (r *run) cycle(ctx context.Context, n int, hub Hub) (CycleResult, Hub, error) {
	res := CycleResult{Cycle: n}
	if err := r.armTimer(ctx, n); err != nil {
		return res, hub, err
	}
	if err := r.waitLoad(ctx); err != nil {
		return res, hub, err
	}
	if err := pause(ctx, time.Duration(r.rng.Int64N(int64(r.cfg.KillWithin)+1))); err != nil {
		return res, hub, err
	}
	if err := hub.Kill(); err != nil {
		return res, hub, fmt.Errorf("kill: %w", err)
	}
	r.to.set("")
	outcomes := r.outcomes()
	for _, o := range outcomes {
		if !o.Acked {
			res.InFlight++
		}
	}

	fold, err := r.checkFolder(ctx, &res, outcomes, func(st *store.Store) (err error) {
		res.TimerPending, err = timerStored(ctx, st, n)
		return err
	})
	if err != nil {
		return res, hub, err
	}
	if res.TimerPending {
		r.timers[n] = res.LastSeq
	}

	start := time.Now()
	hub, err = r.cfg.Start(ctx, r.data, r.auto)
	if err != nil {
		return res, nil, fmt.Errorf("restart: %w", err)
	}
	res.Restart = time.Since(start)

	// Before any client is let back in, the restarted hub must serve the
	// state the log folds to.
	api, err := apiDevices(ctx, hub.HTTPAddr())
	if err != nil {
		return res, hub, err
	}
	for _, p := range diffDevices("fold of the log", fold, "restarted hub's /api/devices", api) {
		res.Problems = append(res.Problems, p)
	}
	r.to.set(hub.MQTTAddr())

	if res.TimerPending {
		wait, cancel := context.WithTimeout(ctx, r.cfg.Delay+30*time.Second)
		err := r.watch.waitCycle(wait, n)
		cancel()
		res.TimerFired = err == nil
		if !res.TimerFired {
			res.Problems = append(res.Problems, fmt.Sprintf("the delay pending at the kill did not fire after the restart: %v", err))
		}
	}
	return res, hub, nil
}

// outcomes snapshots every client's ledger.
func (r *run) outcomes() map[string]Outcome {
	out := map[string]Outcome{}
	for _, p := range r.pubs {
		p.ledger.snapshot(out)
	}
	return out
}

// checkFolder checks the data folder while no hub runs on it: integrity,
// the log against the clients' outcomes, the device read model against the
// fold of the log. extra runs on the same read-only store. It returns the
// fold.
func (r *run) checkFolder(ctx context.Context, res *CycleResult, outcomes map[string]Outcome, extra func(*store.Store) error) (fold []hearth.DeviceState, err error) {
	clean := extra == nil // the final check, after a clean stop
	st, err := store.OpenReadOnly(r.dbPath(), nil)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, st.Close()) }()
	if res.Integrity = st.IntegrityCheck(ctx); res.Integrity != nil {
		res.Problems = append(res.Problems, res.Integrity.Error())
	}
	if err := r.scan.read(ctx, st); err != nil {
		return nil, err
	}
	res.LastSeq = r.scan.next - 1
	res.Verdict = judge(outcomes, r.scan)
	res.Problems = append(res.Problems, res.Verdict.problems()...)
	if len(r.scan.unknown) > 0 {
		res.Problems = append(res.Problems, "load messages without an id in the log: "+first(r.scan.unknown, 5))
	}
	fold, problems, err := checkDevices(ctx, st, r.scan, clean)
	if err != nil {
		return nil, err
	}
	res.Problems = append(res.Problems, problems...)
	if extra != nil {
		if err := extra(st); err != nil {
			return nil, err
		}
	}
	return fold, nil
}

// final stops the load, waits until every message is acknowledged (the
// clients resend what the last crash left), stops the hub cleanly and
// checks the folder once more, and the delays: each that was pending at a
// kill fired exactly once, after the restart.
func (r *run) final(ctx context.Context, hub Hub) (CycleResult, error) {
	res := CycleResult{Final: true}
	r.stopLoad()
	r.loadErrMu.Lock()
	if r.loadErr != nil {
		res.Problems = append(res.Problems, "load: "+r.loadErr.Error())
	}
	r.loadErrMu.Unlock()
	deadline := time.Now().Add(60 * time.Second)
	for _, p := range r.pubs {
		for p.ledger.unacked() > 0 && time.Now().Before(deadline) {
			if err := pause(ctx, 10*time.Millisecond); err != nil {
				_ = hub.Kill()
				return res, err
			}
		}
		if n := p.ledger.unacked(); n > 0 {
			res.Problems = append(res.Problems, fmt.Sprintf("client %s: %d messages never acknowledged", p.id, n))
		}
	}
	for _, p := range r.pubs {
		p.disconnect()
	}
	r.watch.disconnect()
	if err := hub.Stop(); err != nil {
		res.Problems = append(res.Problems, "clean stop: "+err.Error())
	}
	outcomes := r.outcomes()
	if _, err := r.checkFolder(ctx, &res, outcomes, nil); err != nil {
		return res, err
	}
	for _, c := range slices.Sorted(maps.Keys(r.timers)) {
		seqs := r.scan.lamp[c]
		switch {
		case len(seqs) != 1:
			res.Problems = append(res.Problems, fmt.Sprintf("the delay of cycle %d commanded the lamp %d times (seqs %v), want once", c, len(seqs), seqs))
		case seqs[0] <= r.timers[c]:
			res.Problems = append(res.Problems, fmt.Sprintf("the delay of cycle %d fired at seq %d, before the kill (log ended at %d)", c, seqs[0], r.timers[c]))
		}
	}
	return res, nil
}

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
