package automations

import (
	"encoding/json"
	"strconv"
	"time"

	"hearth"
)

// traceJSON writes a run's trace as json.Marshal writes it, byte for byte
// (the log keeps it and the page reads it back), into a buffer the engine
// reuses, and returns a copy the caller owns: every run writes one, and
// json.Marshal made a dozen allocations of each, one per time above all.
// What this does not write itself (a step's values, a string with control
// or non-ASCII characters) it asks encoding/json for; on any error it
// leaves the whole trace to json.Marshal, so the error is the same too.
func (e *Engine) traceJSON(tr *hearth.Trace) ([]byte, error) {
	bp, _ := e.traceBufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	b, err := appendTrace((*bp)[:0], tr)
	var out []byte
	if err == nil {
		out = append([]byte(nil), b...)
	}
	if cap(b) <= 64<<10 { // a trace of a long repeat is not kept for the next
		*bp = b
		e.traceBufs.Put(bp)
	}
	if err != nil {
		return json.Marshal(*tr) // a copy, so that tr itself stays off the heap
	}
	return out, nil
}

// appendTrace appends tr as JSON, in the order and with the omissions of
// hearth.Trace's field tags.
func appendTrace(b []byte, tr *hearth.Trace) ([]byte, error) {
	var err error
	b = append(b, `{"run":`...)
	b = appendJSONString(b, tr.Run)
	b = append(b, `,"started":`...)
	if b, err = appendJSONTime(b, tr.Started); err != nil {
		return b, err
	}
	if !tr.Ended.IsZero() {
		b = append(b, `,"ended":`...)
		if b, err = appendJSONTime(b, tr.Ended); err != nil {
			return b, err
		}
	}
	b = append(b, `,"outcome":`...)
	b = appendJSONString(b, tr.Outcome)
	if tr.Error != "" {
		b = append(b, `,"error":`...)
		b = appendJSONString(b, tr.Error)
	}
	b = append(b, `,"automation":`...)
	b = appendJSONString(b, tr.Automation)
	if tr.Trigger != 0 {
		b = append(b, `,"trigger":`...)
		b = strconv.AppendUint(b, tr.Trigger, 10)
	}
	b = append(b, `,"steps":`...)
	if tr.Steps == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range tr.Steps {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendStep(b, &tr.Steps[i]); err != nil {
				return b, err
			}
		}
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

func appendStep(b []byte, s *hearth.TraceStep) ([]byte, error) {
	var err error
	b = append(b, `{"time":`...)
	if b, err = appendJSONTime(b, s.Time); err != nil {
		return b, err
	}
	b = append(b, `,"kind":`...)
	b = appendJSONString(b, s.Kind)
	b = append(b, `,"text":`...)
	b = appendJSONString(b, s.Text)
	if s.Result != "" {
		b = append(b, `,"result":`...)
		b = appendJSONString(b, s.Result)
	}
	if len(s.Values) > 0 {
		v, err := json.Marshal(s.Values)
		if err != nil {
			return b, err
		}
		b = append(b, `,"values":`...)
		b = append(b, v...)
	}
	if s.Seq != 0 {
		b = append(b, `,"seq":`...)
		b = strconv.AppendUint(b, s.Seq, 10)
	}
	if s.Error != "" {
		b = append(b, `,"error":`...)
		b = appendJSONString(b, s.Error)
	}
	return append(b, '}'), nil
}

// appendJSONTime writes t as time.Time's MarshalJSON does.
func appendJSONTime(b []byte, t time.Time) ([]byte, error) {
	b = append(b, '"')
	b, err := t.AppendText(b)
	return append(b, '"'), err
}

// appendJSONString writes s as encoding/json does, escaping for HTML as
// it does (<, > and & as \u003c, \u003e and \u0026). A string with a
// control character or beyond ASCII is left to encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '<':
			b = append(b, `\u003c`...)
		case '>':
			b = append(b, `\u003e`...)
		case '&':
			b = append(b, `\u0026`...)
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
