package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Startup is the hub's start-up on a long log, and its memory once that log
// went through it.
type Startup struct {
	// LogEvents is the number of events in the log; LogBytes the size of
	// the data folder.
	LogEvents uint64 `json:"log_events"`
	LogBytes  int64  `json:"log_bytes"`
	// Fill are the runs that filled the log through MQTT.
	Fill []Run `json:"fill"`
	// AfterFill is the hub's memory once the log was filled (the process
	// that took every event).
	AfterFill ProcUsage `json:"after_fill"`
	// WithAutomations and Without are the times from exec to the hub's
	// listening lines, in ms, with the benchmark's automations and with none.
	WithAutomations []float64 `json:"with_automations_ms"`
	Without         []float64 `json:"without_automations_ms"`
	MedianWith      float64   `json:"median_with_automations_ms"`
	MedianWithout   float64   `json:"median_without_automations_ms"`
	// RSSAfterStart is the median resident set just after start-up, with
	// the automations, in MB.
	RSSAfterStart float64 `json:"rss_after_start_mb"`
	// Problems are what went wrong on the way (a hub that did not stop
	// cleanly) without spoiling the timings.
	Problems []string `json:"problems,omitempty"`
}

// fillLog publishes sensor events through the running hub, in stretches of
// at most 30 s at rate, until its log holds at least events events. Every
// event goes the whole way (broker, log, read model, automations, commands),
// so the log has the real mix of messages, state changes, runs and commands.
func fillLog(ctx context.Context, o options, t *hubTarget, l *load, events uint64, rate float64, log func(Run)) ([]Run, error) {
	o.Warmup = 0
	var runs []Run
	perEvent := 0.0 // log events per sensor event, learnt from the first stretch
	for ctx.Err() == nil {
		h0, err := t.h.health(ctx)
		if err != nil {
			return runs, err
		}
		if h0.NextSeq-1 >= events {
			return runs, nil
		}
		// Until the first stretch tells, guess four log events per sensor
		// event (message, state change, automation run, command).
		guess := perEvent
		if guess == 0 {
			guess = 4
		}
		left := float64(events-(h0.NextSeq-1)) / guess / rate
		d := time.Duration(min(30, max(1, left+0.5)) * float64(time.Second))
		r := measure(ctx, o, t, l, runSpec{kind: "fill", rate: rate, qos: 0, duration: d})
		runs = append(runs, r)
		log(r)
		h1, err := t.h.health(ctx)
		if err != nil {
			return runs, err
		}
		if r.Sent > 0 {
			perEvent = float64(h1.NextSeq-h0.NextSeq) / float64(r.Sent)
		}
		if perEvent <= 0 {
			return runs, fmt.Errorf("the hub's log does not grow (next_seq %d)", h1.NextSeq)
		}
	}
	return runs, ctx.Err()
}

// timeStartups starts the hub on data repeat times with the automations and
// repeat times without, alternating, and records the time from exec to its
// listening lines and its memory just after.
func timeStartups(ctx context.Context, bin, data, automations string, repeat int, s *Startup, args ...string) error {
	var rss []float64
	for i := 0; i < repeat; i++ {
		for _, auto := range []string{automations, ""} {
			h, err := startHub(ctx, bin, data, auto, args...)
			if err != nil {
				return fmt.Errorf("start-up %d: %w", i+1, err)
			}
			d := ms(h.ready)
			if auto != "" {
				s.WithAutomations = append(s.WithAutomations, d)
				if p, err := readProc(h.pid()); err == nil {
					rss = append(rss, mb(p.rss))
				}
			} else {
				s.Without = append(s.Without, d)
			}
			if err := h.stop(30 * time.Second); err != nil {
				s.Problems = append(s.Problems, fmt.Sprintf("start-up %d: stop: %s", i+1, firstLine(err.Error())))
			}
		}
	}
	s.MedianWith, s.MedianWithout = median(s.WithAutomations), median(s.Without)
	s.RSSAfterStart = median(rss)
	size, err := folderSize(data)
	s.LogBytes = size
	return err
}

// folderSize adds up the sizes of the files in dir.
func folderSize(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			total += info.Size()
		}
		return nil
	})
	if err != nil {
		return total, fmt.Errorf("size of %s: %w", dir, err)
	}
	return total, nil
}
