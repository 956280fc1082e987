package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// reloadSettle is how long the automations path must stay quiet after a
// change before it is reloaded: editors write a file in several steps.
const reloadSettle = 300 * time.Millisecond

// errNoAutomationsPath is Reload's answer when the hub runs without an
// automations file (the demo's are built in).
var errNoAutomationsPath = errors.New("no automations path to reload: start the hub with --automations")

// Reload reloads the automations from their path. A file with mistakes never
// replaces the running automations; its problems are returned, logged and
// shown on the page.
func (a *App) Reload(by string) error {
	if a.automationsPath == "" {
		return errNoAutomationsPath
	}
	changes, err := a.engine.Reload(a.automationsPath)
	if err != nil {
		return fmt.Errorf("reload %s: %w", a.automationsPath, err)
	}
	a.log.Info("automations reloaded", "by", by, "path", a.automationsPath, "changes", changes.String())
	return nil
}

// ReloadUsers re-reads the embedded broker's users file.
func (a *App) ReloadUsers() error {
	if a.broker == nil {
		return nil
	}
	return a.broker.ReloadUsers()
}

// watchAutomations reloads the automations whenever their file or folder
// changes. It watches the folder, not the file, so that an editor replacing
// the file (write to a temporary file, rename over) is seen too.
func (a *App) watchAutomations(ctx context.Context, path string) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch %s: %w", path, err)
	}
	defer w.Close()
	dir, only := path, ""
	if info, err := os.Stat(path); err == nil && !info.IsDir() {
		dir, only = filepath.Dir(path), filepath.Clean(path)
	}
	if err := w.Add(dir); err != nil {
		return fmt.Errorf("watch %s: %w", dir, err)
	}
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer settle.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if only != "" && filepath.Clean(ev.Name) != only {
				continue
			}
			if only == "" && !isAutomationsFile(ev.Name) {
				continue
			}
			settle.Reset(reloadSettle)
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			a.log.Warn("watching automations", "path", path, "err", err)
		case <-settle.C:
			if err := a.Reload("file change"); err != nil {
				a.log.Error("automations changed but were not reloaded; the previous ones keep running", "err", err)
			}
		}
	}
}

func isAutomationsFile(name string) bool {
	ext := filepath.Ext(name)
	return ext == ".yaml" || ext == ".yml"
}
