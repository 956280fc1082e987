package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"hearth"
	"hearth/internal/disktest"
)

// ringSize is a small bus ring, so that a test shows with a few events that
// the store keeps reading the bus while the disk refuses the log.
const ringSize = 256

// fastRetry makes the tests try the disk again without waiting seconds.
var fastRetry = DiskTrouble{RetryMin: time.Millisecond, RetryMax: 20 * time.Millisecond}

// limitPages makes the database full for the writer: SQLite's own
// max_page_count, clamped to the pages it has, so that the next commit
// needing a new page fails with "database or disk is full" (SQLITE_FULL).
func limitPages(t testing.TB, st *Store, pages int) {
	t.Helper()
	if _, err := st.w.ExecContext(context.Background(), fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
		t.Fatalf("max_page_count: %v", err)
	}
}

// bigMessage is a QoS 1 message too large for the free room in any page.
func bigMessage(i int) hearth.Event {
	return hearth.Event{Kind: hearth.KindMessage, Topic: "home/camera", QoS: 1,
		Payload: fmt.Appendf(nil, `{"i":%d,"pad":%q}`, i, strings.Repeat("x", 8000))}
}

// mustFailAtOnce publishes a QoS 1 message and checks that its wait for the
// log ends with the disk's error, not by waiting for a recovery that the
// test has not allowed yet.
func mustFailAtOnce(t *testing.T, r *running, e hearth.Event) hearth.Event {
	t.Helper()
	p := r.publish(t, e)[0]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := r.bus.WaitDurable(ctx, p.Seq)
	if _, disk := diskTrouble(err); !disk {
		t.Fatalf("WaitDurable(%d) = %v, want the disk's error", p.Seq, err)
	}
	return p
}

// awaitDurable waits until seq is in the log, through the disk's trouble.
func awaitDurable(t testing.TB, b *hearth.Bus, seq uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := b.AwaitDurable(ctx, seq); err != nil {
		t.Fatalf("await durable %d: %v", seq, err)
	}
}

// logRecorder keeps the messages logged at Error, for checking that the
// hub says so loudly.
type logRecorder struct {
	slog.Handler
	mu     *sync.Mutex
	errors *[]string
}

func newLogRecorder(t testing.TB) (*slog.Logger, func() []string) {
	var mu sync.Mutex
	var errs []string
	h := logRecorder{Handler: testLogger(t).Handler(), mu: &mu, errors: &errs}
	return slog.New(h), func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), errs...)
	}
}

func (h logRecorder) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		h.mu.Lock()
		*h.errors = append(*h.errors, r.Message)
		h.mu.Unlock()
	}
	return h.Handler.Handle(ctx, r)
}

func (h logRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	h.Handler = h.Handler.WithAttrs(as)
	return h
}

func saidLoudly(t testing.TB, errs []string, want string) {
	t.Helper()
	for _, m := range errs {
		if strings.Contains(m, want) {
			return
		}
	}
	t.Fatalf("no error logged saying %q; logged: %q", want, errs)
}

func TestRunRidesOutAFullDatabase(t *testing.T) {
	ctx := context.Background()
	log, loggedErrors := newLogRecorder(t)
	st, err := Open(filepath.Join(t.TempDir(), "hearth.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	st.SetQuietDelay(0)
	st.SetDiskTrouble(fastRetry)
	r := startRunOn(t, st, hearth.NewBus(hearth.BusOptions{NextSeq: 1, Durable: true, Size: ringSize}))
	published := r.publish(t, hearth.Event{Kind: hearth.KindMessage, Topic: "home/hall", QoS: 1})
	r.waitDurable(t, published[0].Seq)

	limitPages(t, st, 1)
	published = append(published, mustFailAtOnce(t, r, bigMessage(1)))

	if err := r.bus.DurableErr(); err == nil || !strings.Contains(err.Error(), "full") {
		t.Fatalf("bus DurableErr = %v, want the disk being full", err)
	}
	if tr := st.Trouble(); !tr.Failing || tr.Cause != "the disk is full" {
		t.Fatalf("Trouble = %+v, want failing because the disk is full", tr)
	}
	saidLoudly(t, loggedErrors(), "cannot write the event log: the disk is full")

	// More than a ring's worth of events nobody waits for: the store keeps
	// taking them off the bus, so publishers are never held up.
	for i := range 4 * ringSize {
		published = append(published, r.publish(t, hearth.Event{Kind: hearth.KindMessage, Topic: "home/motion", Payload: fmt.Appendf(nil, `{"i":%d}`, i)})...)
	}
	if err := r.bus.WaitDurable(ctx, published[len(published)-1].Seq); err == nil {
		t.Fatal("WaitDurable succeeded while the database is full")
	}

	limitPages(t, st, 1<<30)
	awaitDurable(t, r.bus, published[len(published)-1].Seq)
	if err := r.bus.DurableErr(); err != nil {
		t.Fatalf("bus DurableErr after recovery = %v", err)
	}
	if tr := st.Trouble(); tr.Failing || tr.Held != 0 || tr.NotLogged != 0 {
		t.Fatalf("Trouble after recovery = %+v, want all clear", tr)
	}
	sameEvents(t, replayAll(t, st), published)

	// And the log works as before: a new QoS 1 message is durable.
	after := r.publish(t, hearth.Event{Kind: hearth.KindMessage, Topic: "home/hall", QoS: 1})
	r.waitDurable(t, after[0].Seq)
}

func TestRunLetsTheOldestGoPastTheBacklogLimit(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	const hold = 64
	st.SetDiskTrouble(DiskTrouble{HoldEvents: hold, RetryMin: time.Millisecond, RetryMax: 20 * time.Millisecond})
	r := startRun(t, st)
	watch := r.bus.Subscribe("test", hearth.MayLag)
	r.waitDurable(t, r.publish(t, hearth.Event{Kind: hearth.KindMessage, Topic: "home/start", QoS: 1})[0].Seq)

	limitPages(t, st, 1)
	waited := mustFailAtOnce(t, r, bigMessage(1))

	// Five devices change state and go on and offline, among messages.
	devices := []string{"lamp", "door", "plug", "tv", "fan"}
	lastState := map[string]string{}
	lastAvail := map[string]hearth.Availability{}
	var lastSeq uint64
	for i := range 600 {
		d := devices[i%len(devices)]
		var e hearth.Event
		switch i % 3 {
		case 0:
			e = hearth.Event{Kind: hearth.KindMessage, Topic: "home/" + d, Payload: fmt.Appendf(nil, `{"i":%d}`, i)}
		case 1:
			e = hearth.Event{Kind: hearth.KindState, Device: d, Payload: fmt.Appendf(nil, `{"i":%d}`, i)}
			lastState[d] = fmt.Sprintf(`{"i":%d}`, i)
		case 2:
			a := []hearth.Availability{hearth.Online, hearth.Offline}[i%2]
			e = hearth.Event{Kind: hearth.KindAvailability, Device: d, Payload: []byte(a)}
			lastAvail[d] = a
		}
		lastSeq = r.publish(t, e)[0].Seq
	}

	limitPages(t, st, 1<<30)
	awaitDurable(t, r.bus, lastSeq)
	gap := readUntilGap(t, watch)
	r.waitDurable(t, gap.Seq)

	var note Gap
	if err := json.Unmarshal(gap.Payload, &note); err != nil {
		t.Fatalf("gap payload %s: %v", gap.Payload, err)
	}
	logged := replayAll(t, st)
	inLog := map[uint64]bool{}
	for i, e := range logged {
		if i > 0 && e.Seq <= logged[i-1].Seq {
			t.Fatalf("log out of order at %d: seq %d after %d", i, e.Seq, logged[i-1].Seq)
		}
		inLog[e.Seq] = true
	}
	var missing []uint64
	for seq := uint64(1); seq <= lastSeq; seq++ {
		if !inLog[seq] {
			missing = append(missing, seq)
		}
	}
	if len(missing) == 0 || note.NotLogged != uint64(len(missing)) || note.FirstSeq != missing[0] || note.LastSeq != missing[len(missing)-1] {
		t.Fatalf("gap note %+v; the log misses %d events, %v..%v", note, len(missing), missing[:1], missing[len(missing)-1:])
	}
	if note.Cause != "the disk is full" || note.From.IsZero() || note.Until.Before(note.From) || gap.Topic != GapTopic {
		t.Fatalf("gap note %+v on %q: want the cause, the stretch of time and its topic", note, gap.Topic)
	}
	if !inLog[waited.Seq] {
		t.Fatalf("the message somebody waited for (seq %d) was let go", waited.Seq)
	}
	if tr := st.Trouble(); tr.NotLogged != note.NotLogged {
		t.Fatalf("Trouble().NotLogged = %d, want %d", tr.NotLogged, note.NotLogged)
	}

	// The persisted read model (written when Run stops) is the fold of what
	// the log holds, and that fold ends where the devices are.
	if err := r.stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	got, _, err := st.Devices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, err := st.RebuildDevices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("devices table %v\nfold of the log %v", got, want)
	}
	for _, d := range got {
		b, _ := json.Marshal(d.State)
		if string(b) != lastState[d.ID] || d.Availability != lastAvail[d.ID] {
			t.Fatalf("device %s in the log: %s %s, want its last state %s %s", d.ID, b, d.Availability, lastState[d.ID], lastAvail[d.ID])
		}
	}
	if len(got) != len(devices) {
		t.Fatalf("log folds into %d devices, want %d", len(got), len(devices))
	}
}

// readUntilGap reads sub until the log's note of a gap comes by.
func readUntilGap(t *testing.T, sub *hearth.Subscription) hearth.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	buf := make([]hearth.Event, 256)
	for {
		evs, err := sub.Read(ctx, buf)
		if err != nil && !errors.Is(err, hearth.ErrGap) {
			t.Fatalf("waiting for the gap note: %v", err)
		}
		for _, e := range evs {
			if e.Kind == hearth.KindGap {
				return e
			}
		}
	}
}

func TestRunRidesOutAFullDisk(t *testing.T) {
	dir := disktest.Tmpfs(t, "8m")
	log, loggedErrors := newLogRecorder(t)
	st, err := Open(filepath.Join(dir, "hearth.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	st.SetQuietDelay(0)
	st.SetDiskTrouble(fastRetry)
	r := startRun(t, st)
	var published []hearth.Event
	published = append(published, r.publish(t, hearth.Event{Kind: hearth.KindMessage, Topic: "home/hall", QoS: 1})...)
	r.waitDurable(t, published[0].Seq)

	filler := disktest.Fill(t, dir)
	// The write-ahead log may have room left in pages it already has: write
	// until the disk refuses.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var failed error
	for i := 0; failed == nil; i++ {
		e := r.publish(t, bigMessage(i))[0]
		published = append(published, e)
		if err := r.bus.WaitDurable(ctx, e.Seq); err != nil {
			failed = err
		}
		if i > 10_000 {
			t.Fatal("the disk never filled up")
		}
	}
	if _, disk := diskTrouble(failed); !disk {
		t.Fatalf("a QoS 1 wait on a full disk got %v, want the disk's error", failed)
	}
	saidLoudly(t, loggedErrors(), "cannot write the event log")
	for i := range 100 {
		published = append(published, r.publish(t, hearth.Event{Kind: hearth.KindMessage, Topic: "home/motion", Payload: fmt.Appendf(nil, `{"i":%d}`, i)})...)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	awaitDurable(t, r.bus, published[len(published)-1].Seq)
	if err := r.bus.DurableErr(); err != nil {
		t.Fatalf("DurableErr after freeing the disk = %v", err)
	}
	sameEvents(t, replayAll(t, st), published)
}

// mountExt4 makes a small ext4 file system in a file and mounts it on a new
// folder, set to turn read-only on its first error as a Pi's SD card does;
// it skips the test where that is not possible. It returns the folder and
// the file the kernel reads to raise an error on that file system.
func mountExt4(t *testing.T) (dir, trigger string) {
	t.Helper()
	for _, tool := range []string{"mkfs.ext4", "mount", "umount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("a read-only disk needs %s: %v", tool, err)
		}
	}
	img := filepath.Join(t.TempDir(), "card.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 32<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", img).CombinedOutput(); err != nil {
		t.Skipf("mkfs.ext4: %v: %s", err, out)
	}
	dir = filepath.Join(t.TempDir(), "card")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-o", "loop,errors=remount-ro", img, dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount an ext4 image (needs root and loop devices): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	out, err := exec.Command("findmnt", "-no", "SOURCE", dir).Output()
	if err != nil {
		t.Skipf("findmnt %s: %v", dir, err)
	}
	trigger = filepath.Join("/sys/fs/ext4", filepath.Base(strings.TrimSpace(string(out))), "trigger_fs_error")
	if _, err := os.Stat(trigger); err != nil {
		t.Skipf("this kernel cannot raise an ext4 error on demand: %v", err)
	}
	return dir, trigger
}

func TestRunKeepsGoingOnADiskTurnedReadOnly(t *testing.T) {
	// The kernel refuses to remount a file system read-only while a file on
	// it is open for writing, as the log is; it turns one read-only by
	// itself when the file system finds an error, which is how an SD card
	// fails. Only unmounting brings such a file system back, so this test
	// checks that the hub rides it out, not that it recovers (the full
	// disk tests do).
	dir, trigger := mountExt4(t)
	log, loggedErrors := newLogRecorder(t)
	st, err := Open(filepath.Join(dir, "hearth.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() }) // the checkpoint at close fails on a read-only disk
	st.SetQuietDelay(0)
	st.SetDiskTrouble(fastRetry)
	last, err := st.LastSeq(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b := hearth.NewBus(hearth.BusOptions{NextSeq: last + 1, Durable: true, Size: ringSize})
	r := &running{bus: b, done: make(chan error, 1)}
	sub := b.Subscribe("store", hearth.MustNotMiss)
	go func() { r.done <- st.Run(context.Background(), sub, b) }()
	t.Cleanup(func() { b.Close() })

	r.waitDurable(t, r.publish(t, hearth.Event{Kind: hearth.KindMessage, Topic: "home/hall", QoS: 1})[0].Seq)
	if err := os.WriteFile(trigger, []byte("1"), 0o200); err != nil {
		t.Fatalf("raise an error on the file system: %v", err)
	}
	mustFailAtOnce(t, r, hearth.Event{Kind: hearth.KindMessage, Topic: "home/hall", QoS: 1, Payload: []byte(`{"n":1}`)})
	for i := range 4 * ringSize { // more than the ring holds: Run keeps reading
		r.publish(t, hearth.Event{Kind: hearth.KindMessage, Topic: "home/motion", Payload: fmt.Appendf(nil, `{"i":%d}`, i)})
	}
	saidLoudly(t, loggedErrors(), "cannot write the event log")
	if tr := st.Trouble(); !tr.Failing {
		t.Fatalf("Trouble = %+v, want failing", tr)
	}
	select {
	case err := <-r.done:
		t.Fatalf("Run stopped on a read-only disk: %v", err)
	default:
	}
	// Stopping while the disk is still read-only: Run says what is lost
	// and returns nil, so the hub shuts down cleanly.
	b.Close()
	if err := <-r.done; err != nil {
		t.Fatalf("Run after Close on a read-only disk = %v, want nil", err)
	}
	saidLoudly(t, loggedErrors(), "stopping with events the disk never took")
}

func TestDiskTroubleTellsTheDiskFromTheProgram(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	commitDirect(t, st, messages(2))

	ro, err := OpenReadOnly(st.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	_, readOnly := ro.r.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('x', 1)`)

	limitPages(t, st, 1)
	full := st.commit(ctx, newBatchWriter(), []hearth.Event{{Seq: 3, Kind: hearth.KindMessage, Payload: make([]byte, 10_000)}})
	limitPages(t, st, 1<<30)
	duplicate := st.commit(ctx, newBatchWriter(), []hearth.Event{{Seq: 1, Kind: hearth.KindMessage}})

	for _, tc := range []struct {
		name     string
		err      error
		wantDisk bool
	}{
		{"a full database is the disk's doing", full, true},
		{"a read-only database is the disk's doing", readOnly, true},
		{"a sequence number used twice is the program's", duplicate, false},
		{"an error that is not SQLite's is the program's", errors.New("boom"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err == nil {
				t.Fatal("no error to classify")
			}
			cause, disk := diskTrouble(fmt.Errorf("wrapped: %w", tc.err))
			if disk != tc.wantDisk || disk == (cause == "") {
				t.Fatalf("diskTrouble(%v) = %q, %v; want disk %v", tc.err, cause, disk, tc.wantDisk)
			}
		})
	}
}
