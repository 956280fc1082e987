package store

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"sync"

	"hearth"
)

// An automation run's trace (a KindRun event's payload, hearth.Trace as
// JSON) is the largest thing the log holds for a sensor event: about 700
// bytes where the message, the state change and the command take about 100
// each. The store keeps it compressed (DEFLATE with a preset dictionary of
// what every trace says: its keys, step kinds and outcomes), which brings a
// typical trace to about 210 bytes, and inflates it when it is read, so
// nothing outside the store sees the difference.
//
// On disk such a payload starts with traceDeflate, a byte no JSON text
// starts with. The dictionary is part of the file format: a payload written
// with it must always be read with it, so it never changes; a better one
// would come with a byte of its own.
//
// Only traces: the payloads of state events are read by SQLite's JSON
// functions (History, retention's downsampling), and messages and commands
// are small.

// traceDeflate marks a trace stored as DEFLATE with traceDict.
const traceDeflate = 0x01

// minCompress is the smallest trace worth compressing: the DEFLATE stream
// of a shorter one saves little.
const minCompress = 128

// traceDict is the preset dictionary: the frame of a trace, with the
// strings that repeat in every one nearest its end, where DEFLATE finds
// them at the shortest distances.
const traceDict = `{"run":"#1","started":"2026-01-01T00:00:00.000000000Z","ended":"2026-01-01T00:00:00.000000000Z","outcome":"done","error":"","automation":"","trigger":1,"steps":[` +
	`{"time":"2026-01-01T00:00:00.000000000Z","kind":"action","text":"delay ","result":"cancelled","values":{"states.":0,"payload.":"","prev.":false},"seq":1,"error":""},` +
	`{"time":"2026-01-01T00:00:00.000000000Z","kind":"condition","text":"(states. ?? 0) \u003c 30","result":"false"},` +
	`{"time":"2026-01-01T00:00:00.000000000Z","kind":"trigger","text":"device  when occupancy == true","result":"fired"},` +
	`{"time":"2026-01-01T00:00:00.000000000Z","kind":"condition","text":"(states.house.mode ?? \"home\") != \"away\"","result":"true"},` +
	`{"time":"2026-01-01T00:00:00.000000000Z","kind":"command","text":"set  {\"brightness\":200,\"state\":\"ON\"}","result":"sent","seq":1}]}`

// compressor deflates traces for Run's goroutine; one is enough.
type compressor struct {
	w   *flate.Writer
	buf bytes.Buffer
}

// payload returns what to store for e's payload: a trace compressed when
// that makes it shorter, anything else as it is.
func (c *compressor) payload(e *hearth.Event) ([]byte, error) {
	p := e.Payload
	if e.Kind != hearth.KindRun || len(p) < minCompress || p[0] != '{' {
		return p, nil
	}
	c.buf.Reset()
	c.buf.WriteByte(traceDeflate)
	if c.w == nil {
		// Level 5: as small as 9 on traces, and faster.
		w, err := flate.NewWriterDict(&c.buf, 5, []byte(traceDict))
		if err != nil {
			return nil, err
		}
		c.w = w
	} else {
		c.w.Reset(&c.buf)
	}
	if _, err := c.w.Write(p); err != nil {
		return nil, fmt.Errorf("compress trace: %w", err)
	}
	if err := c.w.Close(); err != nil {
		return nil, fmt.Errorf("compress trace: %w", err)
	}
	if c.buf.Len() >= len(p) {
		return p, nil
	}
	// The buffer is reused: the statement copies its arguments.
	return c.buf.Bytes(), nil
}

// inflaters keeps DEFLATE readers for reuse across reads (each holds a 32
// KB window); the zero value is ready.
type inflaters struct{ pool sync.Pool }

// payload returns the payload of an event of kind read back from the log:
// a compressed trace inflated, anything else as it is.
func (in *inflaters) payload(kind hearth.Kind, p []byte) ([]byte, error) {
	if kind != hearth.KindRun || len(p) == 0 || p[0] != traceDeflate {
		return p, nil
	}
	dict := []byte(traceDict)
	r, _ := in.pool.Get().(io.ReadCloser)
	if r == nil {
		r = flate.NewReaderDict(bytes.NewReader(p[1:]), dict)
	} else if err := r.(flate.Resetter).Reset(bytes.NewReader(p[1:]), dict); err != nil {
		return nil, fmt.Errorf("inflate trace: %w", err)
	}
	defer in.pool.Put(r)
	out := bytes.NewBuffer(make([]byte, 0, 4*len(p)))
	if _, err := io.Copy(out, r); err != nil {
		return nil, fmt.Errorf("inflate trace: %w", err)
	}
	return out.Bytes(), nil
}
