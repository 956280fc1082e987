package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

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
	res, err := whatIf(context.Background(), file[0], *data, *base, time.Now().Add(-time.Duration(since)), time.Now())
	if err != nil {
		fmt.Fprintln(stderr, "hub automations test:", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			fmt.Fprintln(stderr, "hub automations test:", err)
			return 1
		}
		return 0
	}
	printWhatIf(stdout, file[0], res)
	return 0
}

// whatIf loads file and replays the log's events between from and until.
func whatIf(ctx context.Context, file, dataDir, base string, from, until time.Time) (*automations.WhatIfResult, error) {
	set, err := automations.Load(file)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dataDir, "hearth.db")
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no log in %s: --data names the hub's data folder (./data unless the hub runs with another)", dataDir)
	}
	st, err := store.OpenReadOnly(path, nil)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	events, err := logEvents(ctx, st, from, 0)
	if err != nil {
		return nil, err
	}
	return automations.WhatIf(ctx, set, events, automations.WhatIfOptions{Until: until, BaseTopic: base})
}

func printWhatIf(w io.Writer, file string, res *automations.WhatIfResult) {
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
	ids := make([]string, 0, len(res.NearMisses))
	for id := range res.NearMisses {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		for _, m := range res.NearMisses[id] {
			fmt.Fprintf(w, "  near miss: %s at %s: %s %s (×%d)\n", id, m.Time.Format("01-02 15:04:05"), m.Reason, m.Text, max(m.Repeats, 1))
		}
	}
}

// counted says n of a noun: "1 command", "4 commands".
func counted(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
