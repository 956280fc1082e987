package devices

import (
	"encoding/json"
	"reflect"
	"testing"

	"pgregory.net/rapid"

	"hearth"
)

// checkAgainstStdlib compares the parser with encoding/json on one input:
// both accept it or both reject it, and when they accept they agree on the
// value; the canonical encoding parses back to the same value.
func checkAgainstStdlib(t interface{ Fatalf(string, ...any) }, data []byte) {
	var want any
	stdErr := json.Unmarshal(data, &want)
	var p parser
	v, ok := p.parseTop(data)
	if ok != (stdErr == nil) {
		t.Fatalf("input %q: parser ok=%v, encoding/json err=%v", data, ok, stdErr)
	}
	if !ok {
		return
	}
	got := v.box()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("input %q: parser %#v, encoding/json %#v", data, got, want)
	}
	var e encoder
	enc := e.appendValue(nil, got)
	var back any
	if err := json.Unmarshal(enc, &back); err != nil || !reflect.DeepEqual(back, want) {
		t.Fatalf("input %q: encoded as %q, which reads back as %#v (%v)", data, enc, back, err)
	}
	if v2, ok := p.parseTop(enc); !ok || !equalValue(v2.box(), got) {
		t.Fatalf("input %q: encoded as %q, which the parser reads back as %#v", data, enc, v2.box())
	}
}

func TestParserMatchesEncodingJSON(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		b, err := json.Marshal(genJSON(3).Draw(t, "value"))
		if err != nil {
			t.Fatal(err)
		}
		checkAgainstStdlib(t, b)
	})
}

func TestParserOnEdgeCases(t *testing.T) {
	cases := []struct{ name, in string }{
		{"white space around a value is allowed", " \t\n{ \"a\" : [ 1 , 2 ] }\r\n"},
		{"an escaped solidus is a slash", `"a\/b"`},
		{"a lone high surrogate becomes a replacement character", `"\ud800x"`},
		{"a lone low surrogate becomes a replacement character", `"\udc00"`},
		{"a high surrogate before a non-surrogate keeps the second escape", `"\ud800\u0041"`},
		{"a surrogate pair is one rune", `"\ud83d\ude00"`},
		{"invalid UTF-8 in a string is replaced byte by byte", "\"\xe2\x82\""},
		{"a control character in a string is an error", "\"a\x01\""},
		{"a bad escape is an error", `"\x"`},
		{"a short unicode escape is an error", `"\u12"`},
		{"a leading zero is an error", `012`},
		{"a bare minus is an error", `-`},
		{"a dot without digits is an error", `1.`},
		{"an exponent without digits is an error", `1e+`},
		{"a huge exponent is out of range", `1e999`},
		{"a tiny exponent underflows to zero", `1e-999`},
		{"negative zero is a number", `-0.0e0`},
		{"trailing garbage is an error", `{} x`},
		{"a trailing comma is an error", `[1,]`},
		{"a missing colon is an error", `{"a" 1}`},
		{"an unquoted key is an error", `{a:1}`},
		{"an unterminated string is an error", `"abc`},
		{"true misspelt is an error", `tru`},
		{"duplicate keys keep the last", `{"a":1,"a":2}`},
		{"an empty input is an error", ``},
		{"a nul byte is an error", "\x00"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { checkAgainstStdlib(t, []byte(tc.in)) })
	}
}

func TestParserLimitsNesting(t *testing.T) {
	deep := make([]byte, 0, 2*maxDepth+10)
	for range maxDepth + 5 {
		deep = append(deep, '[')
	}
	var p parser
	if _, ok := p.parseTop(deep); ok {
		t.Fatalf("a value nested deeper than %d levels was accepted", maxDepth)
	}
	r := New("home", nil)
	e := hearth.Event{Seq: 1, Kind: hearth.KindMessage, Topic: "home/x", Payload: deep}
	r.Apply(&e, func(hearth.Event) {})
	if d, _ := r.Device("x"); d.State["value"] != string(deep) {
		t.Fatalf("a too deep payload was not kept as a string")
	}
}

// FuzzParser runs the comparison on arbitrary bytes; the seeds run as a
// normal test.
func FuzzParser(f *testing.F) {
	for _, s := range []string{`{"occupancy":true,"illuminance":12}`, `[1,"a",null]`, `"\ud83d\ude00"`, "\xff", `1e5`, `{"a":{"b":[]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkAgainstStdlib(t, data) })
}
