// Package webtest drives the hub's page in a real headless Chromium, for the
// browser tests of web and of cmd/hub. It is imported by tests only.
//
// A test starts one browser and opens tabs in it:
//
//	b := webtest.Start(t)                 // skips without Chromium, unless CI=true
//	tab := b.NewTab(t, webtest.Phone)
//	tab.Navigate(url)
//	tab.WaitJS(`document.querySelectorAll('.card').length > 3`)
//	tab.Click(`[data-device="hall_light"] .switch`)
//	tab.Screenshot("home-phone")          // into ScreenshotDir
//	tab.NoErrors()                        // no exception, no console or CSP error
//
// Every tab and the browser are closed, and the browser process waited for,
// at the test's cleanup, so goleak in TestMain stays quiet.
package webtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// ChromiumPath is where Debian installs Chromium.
const ChromiumPath = "/usr/bin/chromium"

// Timeout bounds one wait for the page; a test that waits longer has failed.
const Timeout = 20 * time.Second

// View is the size and colour scheme a tab emulates.
type View struct {
	Name          string
	Width, Height int64
	Dark          bool
	Mobile        bool
}

// The views the screenshots are taken in.
var (
	Phone       = View{Name: "phone", Width: 390, Height: 844, Mobile: true}
	PhoneDark   = View{Name: "phone-dark", Width: 390, Height: 844, Mobile: true, Dark: true}
	Desktop     = View{Name: "desktop", Width: 1280, Height: 800}
	DesktopDark = View{Name: "desktop-dark", Width: 1280, Height: 800, Dark: true}
)

// Browser is one headless Chromium shared by a test's subtests.
type Browser struct {
	ctx context.Context // the browser's first tab, which keeps the process
}

// Start starts Chromium. Without it the test is skipped, unless the
// environment has CI=true: then the test fails, so CI never passes by
// skipping. Cleanup closes the browser and waits for its process.
func Start(t testing.TB) *Browser {
	t.Helper()
	path := ChromiumPath
	if _, err := os.Stat(path); err != nil {
		if p, err2 := exec.LookPath("chromium"); err2 == nil {
			path = p
		} else if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and Chromium is missing (%v): install it (apt-get install chromium)", err)
		} else {
			t.Skipf("skipping the browser test: no Chromium at %s (install it, or set CI=true to make this a failure)", ChromiumPath)
		}
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("lang", "en-GB"),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		// Close the browser gracefully, then wait for its process: the
		// allocator's cancel waits, which is what leaves no goroutine.
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		_ = chromedp.Cancel(cctx)
		ccancel()
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return &Browser{ctx: ctx}
}

// Tab is one page of the browser. It collects the page's uncaught
// exceptions and its console and log errors (a blocked script or style
// shows there as a Content-Security-Policy violation).
type Tab struct {
	// Ctx runs chromedp actions in the tab.
	Ctx context.Context
	t   testing.TB

	mu     sync.Mutex
	errors []string
}

// NewTab opens a tab emulating v; cleanup closes it.
func (b *Browser) NewTab(t testing.TB, v View) *Tab {
	t.Helper()
	tab := &Tab{t: t}
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithListener(tab.listen))
	t.Cleanup(cancel)
	tab.Ctx = ctx
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open tab: %v", err)
	}
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("enable log: %v", err)
	}
	tab.SetView(v)
	return tab
}

func (tab *Tab) listen(ev any) {
	var msg string
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg = fmt.Sprintf("exception: %s", d.Text)
		if d.Exception != nil && d.Exception.Description != "" {
			msg += " " + d.Exception.Description
		}
		msg += fmt.Sprintf(" (%s:%d)", d.URL, d.LineNumber+1)
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError {
			return
		}
		var parts []string
		for _, a := range ev.Args {
			parts = append(parts, string(a.Value)+a.Description)
		}
		msg = "console.error: " + strings.Join(parts, " ")
	case *cdplog.EventEntryAdded:
		if ev.Entry.Level != cdplog.EntryLevelError {
			return
		}
		msg = fmt.Sprintf("log (%s): %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
	default:
		return
	}
	tab.mu.Lock()
	tab.errors = append(tab.errors, msg)
	tab.mu.Unlock()
}

// Errors returns the errors the page reported so far.
func (tab *Tab) Errors() []string {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	return append([]string(nil), tab.errors...)
}

// NoErrors fails the test if the page reported an error, except those
// that contain one of allowed (an expected 503, say).
func (tab *Tab) NoErrors(allowed ...string) {
	tab.t.Helper()
	var bad []string
	for _, e := range tab.Errors() {
		ok := false
		for _, a := range allowed {
			ok = ok || strings.Contains(e, a)
		}
		if !ok {
			bad = append(bad, e)
		}
	}
	if len(bad) > 0 {
		tab.t.Errorf("the page reported %d error(s):\n  %s", len(bad), strings.Join(bad, "\n  "))
	}
}

// SetView emulates a viewport size and a colour scheme.
func (tab *Tab) SetView(v View) {
	tab.t.Helper()
	opts := []chromedp.EmulateViewportOption{chromedp.EmulatePortrait}
	if v.Mobile {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulateScale(2))
	}
	if err := chromedp.Do(tab.Ctx, chromedp.EmulateViewport(v.Width, v.Height, opts...)); err != nil {
		tab.t.Fatalf("emulate %s: %v", v.Name, err)
	}
	scheme := "light"
	if v.Dark {
		scheme = "dark"
	}
	_, err := chromedp.Call(tab.Ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
	})
	if err != nil {
		tab.t.Fatalf("emulate %s colour scheme: %v", scheme, err)
	}
}

// Navigate loads url and waits for its load event.
func (tab *Tab) Navigate(url string) {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.Ctx, Timeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		tab.t.Fatalf("navigate to %s: %v", url, err)
	}
}

// WaitJS waits until the JavaScript expression is truthy, polling every
// 10 ms, and fails the test after Timeout. An expression that throws (an
// element not drawn yet) counts as false.
func (tab *Tab) WaitJS(expr string) {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.Ctx, Timeout+5*time.Second)
	defer cancel()
	// The interval polling of chromedp stops for good at an exception, so
	// the expression is guarded. (Frame polling would stop in a hidden tab.)
	guarded := fmt.Sprintf(`(() => { try { return (%s); } catch (e) { return false; } })()`, expr)
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](guarded, chromedp.WithPollingTimeout(Timeout), chromedp.WithPollingInterval(10*time.Millisecond))); err != nil {
		tab.t.Fatalf("wait for %s: %v\npage errors: %v\npage text: %s", expr, err, tab.Errors(), tab.text())
	}
}

// text returns the start of the page's visible text, to say what the page
// showed when a wait failed.
func (tab *Tab) text() string {
	ctx, cancel := context.WithTimeout(tab.Ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 600) : ''`))
	if err != nil {
		return fmt.Sprintf("(unreadable: %v)", err)
	}
	return s
}

// Eval evaluates a JavaScript expression in the tab and decodes its value.
func Eval[T any](tab *Tab, expr string) T {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.Ctx, Timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		tab.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// Click clicks the first element the CSS selector matches, once visible.
func (tab *Tab) Click(sel string) {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.Ctx, Timeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible)); err != nil {
		tab.t.Fatalf("click %s: %v", sel, err)
	}
}

// Focus moves the keyboard focus to the element the CSS selector matches.
func (tab *Tab) Focus(sel string) {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.Ctx, Timeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Focus(chromedp.CSS(sel), chromedp.NodeVisible)); err != nil {
		tab.t.Fatalf("focus %s: %v", sel, err)
	}
}

// Key types keys into the focused element, as a keyboard would (" " is the
// space bar, "\r" Enter).
func (tab *Tab) Key(keys string) {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.Ctx, Timeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.KeyEvent(keys)); err != nil {
		tab.t.Fatalf("key %q: %v", keys, err)
	}
}

// SetRange sets a range input to v as a user letting go of its thumb
// would: an input event, then a change event.
func (tab *Tab) SetRange(sel string, v int) {
	tab.t.Helper()
	Eval[chromedp.Void](tab, fmt.Sprintf(`(() => {
		const el = document.querySelector(%q);
		el.value = %d;
		el.dispatchEvent(new Event('input', {bubbles: true}));
		el.dispatchEvent(new Event('change', {bubbles: true}));
	})()`, sel, v))
}

// Screenshot saves a PNG of what the viewport shows, as a person sees the
// page on opening it, as <ScreenshotDir>/<name>.png, and returns its path.
func (tab *Tab) Screenshot(name string) string {
	tab.t.Helper()
	return tab.save(name, chromedp.CaptureScreenshot())
}

// FullScreenshot saves a PNG of the whole page, scrolled through.
func (tab *Tab) FullScreenshot(name string) string {
	tab.t.Helper()
	return tab.save(name, chromedp.FullScreenshot(100))
}

func (tab *Tab) save(name string, shot chromedp.Action[[]byte]) string {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.Ctx, Timeout)
	defer cancel()
	png, err := chromedp.Run(ctx, shot)
	if err != nil {
		tab.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(ScreenshotDir(tab.t), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tab.t.Fatalf("save screenshot: %v", err)
	}
	return path
}

// ScreenshotDir returns the folder screenshots go to,
// os.TempDir()/hearth-screenshots, creating it. Tests print it.
func ScreenshotDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(os.TempDir(), "hearth-screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("screenshot folder: %v", err)
	}
	return dir
}
