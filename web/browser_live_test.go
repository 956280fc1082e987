package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"hearth/web/webtest"
)

// TestBrowserCausesOfALiveChange: the device page asks for the causes of a
// change the moment the stream shows it, before the log has committed it
// (a QoS 0 message waits up to a second for its commit).
func TestBrowserCausesOfALiveChange(t *testing.T) {
	b := webtest.Start(t)
	s := newStack(t, stackOptions{})
	s.house(t)
	tab := b.NewTab(t, webtest.Desktop)
	tab.Navigate(s.http.URL + "/#/device/hall_light")
	tab.WaitJS(`document.querySelectorAll('.chain .why').length >= 2`)
	for i, state := range []string{"ON", "OFF", "ON"} {
		m := s.publish(t, "home/hall_light", fmt.Sprintf(`{"state":%q}`, state))
		latest := fmt.Sprintf(`document.querySelector('.chain .why-meta')?.textContent.startsWith('#%d ')`, m.Seq+1)
		tab.WaitJS(latest + ` || !!document.querySelector('.chain .error')`)
		if msg := webtest.Eval[string](tab, `document.querySelector('.chain .error')?.textContent || ''`); msg != "" {
			t.Fatalf("change %d: the page says %q", i+1, msg)
		}
	}
	tab.NoErrors()
}

// gate stands between the page and the hub: while down, every request is
// cut off with no answer, as a stopped hub's would be.
type gate struct {
	h    http.Handler
	down atomic.Bool
	srv  *httptest.Server
}

func newGate(t *testing.T, h http.Handler) *gate {
	t.Helper()
	g := &gate{h: h}
	g.srv = httptest.NewServer(g)
	t.Cleanup(g.srv.Close)
	return g
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.down.Load() {
		panic(http.ErrAbortHandler) // closes the connection without an answer
	}
	g.h.ServeHTTP(w, r)
}

// stop makes the hub unreachable and cuts the connections open now (the
// page's live stream among them).
func (g *gate) stop() {
	g.down.Store(true)
	g.srv.CloseClientConnections()
}

func (g *gate) start() { g.down.Store(false) }

// TestBrowserThroughAnOutage: the hub goes away with a device page open,
// and comes back.
func TestBrowserThroughAnOutage(t *testing.T) {
	b := webtest.Start(t)
	s := newStack(t, stackOptions{})
	browserHouse(t, s)
	g := newGate(t, s.web.Handler())
	tab := b.NewTab(t, webtest.Desktop)
	tab.Navigate(g.srv.URL + "/#/device/living_temp")
	tab.WaitJS(`document.querySelectorAll('.chart-svg path.line').length >= 2 && document.getElementById('conn').dataset.state === 'live'`)
	// An event on the stream gives the page an id to resume from, so that
	// the hub replays what it missed instead of telling it to re-read.
	e := s.publish(t, "home/front_door", `{"contact":false}`)
	tab.WaitJS(fmt.Sprintf(`performance.getEntriesByName('hearth:applied').some((m) => m.detail.seq === %d)`, e.Seq+1))
	connText := `document.querySelector('#conn .conn-text').textContent`
	phone := b.NewTab(t, webtest.Phone)
	phone.Navigate(g.srv.URL + "/")
	phone.WaitJS(`document.querySelectorAll('.card').length > 3 && document.getElementById('conn').dataset.state === 'live'`)

	// Each step fails the test through the tab, which belongs to the test
	// itself: no subtests here.
	g.stop()
	// After a few failed attempts the header says the hub cannot be reached.
	tab.WaitJS(connText + `.includes('cannot be reached') && document.getElementById('conn').dataset.state === 'offline'`)
	phone.WaitJS(connText + `.includes('cannot be reached')`)
	phone.Screenshot("offline-phone")
	tab.Screenshot("offline-desktop")
	// The history is read while the hub is down, and fails.
	tab.Click(`[data-range="week"]`)
	tab.WaitJS(`document.querySelector('.charts .error')?.textContent.includes('cannot be reached')`)

	g.start()
	// Once the hub is back the header says Live, and the history is read
	// again.
	tab.WaitJS(connText + ` === 'Live'`)
	phone.WaitJS(connText + ` === 'Live'`)
	tab.WaitJS(`!document.querySelector('.charts .error') && document.querySelector('.chart-svg path.line')?.getAttribute('d').split('L').length > 250`)
	// Requests cut off while the hub was down are what a stopped hub gives.
	for _, tab := range []*webtest.Tab{tab, phone} {
		tab.NoErrors("net::ERR_EMPTY_RESPONSE", "net::ERR_CONNECTION", "net::ERR_INCOMPLETE_CHUNKED_ENCODING")
	}
}
