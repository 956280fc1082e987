package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"hearth"
	"hearth/automations"
	"hearth/store"
)

// automationsCommand runs `hub automations test FILE`: the automations in
// FILE against the events recorded in the log, on a virtual clock, without
// publishing anything. It prints what they would have done and when.
func automationsCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "test" {
		fmt.Fprintln(stderr, "usage: hub automations test FILE [--since 24h] [--data DIR] [--json]")
		return 2
	}
	fs := flag.NewFlagSet("hub automations test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	since := Age(24 * time.Hour)
	fs.TextVar(&since, "since", since, "replay the events of this long `ago` until now: 24h, 2d, 1w")
	data := fs.String("data", "./data", "the hub's data `folder`")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	base := fs.String("base-topic", "home", "MQTT `topic` under which devices live")
	cfgFile := fs.String("config", "", "the hub's config `file`: its data folder, base topic, devices file, adapters and location, so that commands are planned as the hub sends them")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: hub automations test FILE [flags]\n\nRuns the automations in FILE (a YAML file or folder) against the events\nin the log, on a virtual clock, and prints the commands they would have sent.\nNothing is published.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	// The file comes first, flags after it, as people type it.
	file, rest := args[1:], args[1:]
	if len(file) > 0 && file[0] != "" && file[0][0] != '-' {
		rest = file[1:]
		file = file[:1]
	} else {
		file = nil
	}
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if len(file) == 0 && fs.NArg() == 1 {
		file = fs.Args()
	}
	switch {
	case len(file) != 1:
		fs.Usage()
		return 2
	case since <= 0:
		fmt.Fprintln(stderr, "hub automations test: -since 0: want a length of time back from now, such as 24h or 2d")
		return 2
	}
	cfg := defaultConfig()
	if *cfgFile != "" {
		var err error
		if cfg, err = loadConfigFile(*cfgFile); err != nil {
			fmt.Fprintln(stderr, "hub automations test:", err)
			return 2
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["data"] || *cfgFile == "" {
		cfg.DataDir = *data
	}
	if set["base-topic"] || *cfgFile == "" {
		cfg.BaseTopic = *base
	}
	rep, err := whatIf(context.Background(), file[0], cfg, time.Now().Add(-time.Duration(since)), time.Now())
	if err != nil {
		fmt.Fprintln(stderr, "hub automations test:", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintln(stderr, "hub automations test:", err)
			return 1
		}
		return 0
	}
	printWhatIf(stdout, file[0], rep)
	return 0
}

// whatIfReport is a what-if run with what loading the file doubted (the
// page's what-if answers the same: the run's fields and warnings).
type whatIfReport struct {
	*automations.WhatIfResult
	Warnings []hearth.AutomationProblem `json:"warnings"`
	problems []automations.Problem      // the warnings, for the text
}

// whatIf loads file, with the devices as the log last knew them (as the
// hub's reload does with the devices it knows, so that a device never
// heard of or a likely typo of an attribute is a warning), and replays the
// log's events between from and until.
func whatIf(ctx context.Context, file string, cfg Config, from, until time.Time) (whatIfReport, error) {
	path := filepath.Join(cfg.DataDir, "hearth.db")
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return whatIfReport{}, fmt.Errorf("no log in %s: --data names the hub's data folder (./data unless the hub runs with another)", cfg.DataDir)
	}
	st, err := store.OpenReadOnly(path, nil)
	if err != nil {
		return whatIfReport{}, err
	}
	defer st.Close()
	devs, _, err := st.Devices(ctx)
	if err != nil {
		return whatIfReport{}, fmt.Errorf("read the devices from the log: %w", err)
	}
	set, err := automations.DeviceLoadOptions(devs).Load(file)
	if err != nil {
		return whatIfReport{}, err
	}
	events, err := logEvents(ctx, st, from, 0)
	if err != nil {
		return whatIfReport{}, err
	}
	// The device adapters as the hub has them (its devices file, what the
	// log's retained configuration says), so that a command is planned on
	// the topic the hub would send it to, or refused as the hub would.
	reg, err := newRegistry(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return whatIfReport{}, err
	}
	reg.Restore(devs)
	configs, err := st.LatestMessages(ctx, configPrefixes(reg.ConfigFilters()))
	if err != nil {
		return whatIfReport{}, fmt.Errorf("read the devices' configuration from the log: %w", err)
	}
	for _, e := range configs {
		reg.ApplyLogged(e)
	}
	res, err := automations.WhatIf(ctx, set, events, automations.WhatIfOptions{Until: until, BaseTopic: cfg.BaseTopic,
		Latitude: cfg.Location.Latitude, Longitude: cfg.Location.Longitude,
		PlanThrough: func(rec hearth.Commander) hearth.Commander {
			return deviceCommander{next: rec, translate: reg, base: cfg.BaseTopic}
		}})
	if err != nil {
		return whatIfReport{}, err
	}
	warnings := set.Warnings()
	return whatIfReport{WhatIfResult: res, Warnings: problemList(warnings), problems: warnings}, nil
}

// printWhatIf writes a what-if run for people: the load's warnings, the
// commands, then what each run did besides (its log lines and
// notifications, and how it ended when it failed or stopped) and the near
// misses.
func printWhatIf(w io.Writer, file string, rep whatIfReport) {
	for _, p := range rep.problems {
		fmt.Fprintf(w, "warning: %s\n", p)
	}
	res := rep.WhatIfResult
	if res.Events == 0 {
		fmt.Fprintf(w, "%s: no events in the log in that time\n", file)
		return
	}
	fmt.Fprintf(w, "%s against %d events from %s to %s:\n", file, res.Events,
		res.From.Format("2006-01-02 15:04:05"), res.To.Format("2006-01-02 15:04:05"))
	for _, c := range res.Commands {
		cause := "time"
		if c.Cause != 0 {
			cause = fmt.Sprintf("event #%d", c.Cause)
		}
		fmt.Fprintf(w, "  %s  %-28s %-28s %s  (%s)\n", c.Time.Format("01-02 15:04:05.000"), c.Run, c.Topic, c.Payload, cause)
	}
	runs := map[string]int{}
	for _, c := range res.Commands {
		runs[c.Automation]++
	}
	fmt.Fprintf(w, "%s from %s.\n", counted(len(res.Commands), "command"), counted(len(runs), "automation"))
	printRuns(w, res.Traces)
	ids := make([]string, 0, len(res.NearMisses))
	for id := range res.NearMisses {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		for _, m := range res.NearMisses[id] {
			fmt.Fprintf(w, "  near miss: %s at %s: %s %s%s (×%d)\n", id, m.Time.Format("01-02 15:04:05"), m.Reason, m.Text, valuesText(m.Values), max(m.Repeats, 1))
		}
	}
}

// printRuns writes how many runs there were by outcome, then a line for
// each log line and notification a run would have made and for each run
// that failed or stopped, with why, in the order of the runs.
func printRuns(w io.Writer, traces []hearth.Trace) {
	if len(traces) == 0 {
		return
	}
	outcomes := map[string]int{}
	for _, tr := range traces {
		outcomes[tr.Outcome]++
	}
	names := make([]string, 0, len(outcomes))
	for o := range outcomes {
		names = append(names, o)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, o := range names {
		parts[i] = fmt.Sprintf("%d %s", outcomes[o], o)
	}
	fmt.Fprintf(w, "%s traced: %s.\n", counted(len(traces), "run"), strings.Join(parts, ", "))
	for _, tr := range traces {
		line := func(at time.Time, what string) {
			fmt.Fprintf(w, "  %s  %-28s %s\n", at.Format("01-02 15:04:05.000"), tr.Run, indented(what))
		}
		for _, s := range tr.Steps {
			if s.Kind != "action" {
				continue
			}
			// A log step reads "log <message>", a notification's
			// "notify[ channels]: [title: ]message" (automations' trace).
			if msg, ok := strings.CutPrefix(s.Text, "log "); ok && s.Result == "done" {
				line(s.Time, "log: "+msg)
			} else if strings.HasPrefix(s.Text, "notify") {
				what := s.Text
				if s.Error != "" {
					what += " (" + s.Result + ": " + s.Error + ")"
				}
				line(s.Time, what)
			}
		}
		switch {
		case tr.Outcome == "failed":
			line(tr.Ended, "failed: "+tr.Error)
		case strings.HasPrefix(tr.Outcome, "stopped"):
			line(tr.Ended, tr.Outcome+": "+stopReason(tr))
		}
	}
}

// stopReason says why a run stopped: the guard's reason (loop, storm), or
// the step that stopped it (a stop action, a wait that timed out).
func stopReason(tr hearth.Trace) string {
	if tr.Error != "" {
		return tr.Error
	}
	for _, s := range slices.Backward(tr.Steps) {
		if s.Result == "stopped" || s.Result == "timeout" {
			return s.Text
		}
	}
	return "stopped"
}

// indented keeps a message of several lines (an expression's error points
// at its place on a line of its own) under its first line.
func indented(s string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n      ")
}

// valuesText writes a near miss's values as " (name: value, ...)", by name.
func valuesText(values map[string]any) string {
	if len(values) == 0 {
		return ""
	}
	names := make([]string, 0, len(values))
	for k := range values {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, k := range names {
		if e, ok := values[k].(string); ok && k == "error" {
			parts[i] = "error: " + e // as it is: it may run over lines
			continue
		}
		v, err := json.Marshal(values[k])
		if err != nil {
			v = []byte(fmt.Sprint(values[k]))
		}
		parts[i] = k + ": " + string(v)
	}
	return " (" + indented(strings.Join(parts, ", ")) + ")"
}

// counted says n of a noun: "1 command", "4 commands".
func counted(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
