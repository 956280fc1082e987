package devices

import (
	"errors"
	"strings"
	"testing"
)

func TestTemplateRender(t *testing.T) {
	cases := []struct {
		name    string
		tpl     string
		payload string
		want    string
		err     string // the render fails saying this
	}{
		{name: "value is the payload", tpl: "{{ value }}", payload: "21.5", want: "21.5"},
		{name: "text around expressions is kept", tpl: "T={{value}}°", payload: "21", want: "T=21°"},
		{name: "a key of value_json", tpl: "{{ value_json.temperature }}", payload: `{"temperature":23.20}`, want: "23.2"},
		{name: "a whole number stays whole", tpl: "{{ value_json.battery }}", payload: `{"battery":100}`, want: "100"},
		{name: "brackets and nested keys", tpl: "{{value_json['ENERGY']['Total']}}", payload: `{"ENERGY":{"Total":514.153}}`, want: "514.153"},
		{name: "double-quoted brackets", tpl: `{{ value_json["a-b"] }}`, payload: `{"a-b":"x"}`, want: "x"},
		{name: "a list index", tpl: "{{ value_json.list[1] }}", payload: `{"list":[1,2,3]}`, want: "2"},
		{name: "a list index after a dot", tpl: "{{ value_json.list.0 }}", payload: `{"list":[7]}`, want: "7"},
		{name: "a negative list index counts from the end", tpl: "{{ value_json.list[-1] }}", payload: `{"list":[1,2,3]}`, want: "3"},
		{name: "float makes a float", tpl: "{{ value | float }}", payload: "21", want: "21.0"},
		{name: "int truncates", tpl: "{{ value | int }}", payload: "21.9", want: "21"},
		{name: "int of a float value", tpl: "{{ value_json.t | int }}", payload: `{"t":21.9}`, want: "21"},
		{name: "round to one decimal", tpl: "{{ value_json.t | float | round(1) }}", payload: `{"t":21.456}`, want: "21.5"},
		{name: "round with no precision gives a whole number", tpl: "{{ value | round }}", payload: "21.5", want: "22"},
		{name: "round with a keyword argument", tpl: "{{ value | round(precision=2) }}", payload: "1.23456", want: "1.23"},
		{name: "round down", tpl: "{{ value | round(0, 'floor') }}", payload: "1.9", want: "1"},
		{name: "lower", tpl: "{{ value | lower }}", payload: "ON", want: "on"},
		{name: "upper of a key", tpl: "{{ value_json.state | upper }}", payload: `{"state":"on"}`, want: "ON"},
		{name: "default for a missing key", tpl: "{{ value_json.x | default('none') }}", payload: `{}`, want: "none"},
		{name: "d is default", tpl: "{{ value_json.x | d(0) }}", payload: `{}`, want: "0"},
		{name: "default keeps a present key", tpl: "{{ value_json.x | default(0) }}", payload: `{"x":5}`, want: "5"},
		{name: "float with a default for text", tpl: "{{ value | float(0) }}", payload: "n/a", want: "0"},
		{name: "arithmetic", tpl: "{{ value_json.t / 10 }}", payload: `{"t":215}`, want: "21.5"},
		{name: "integer arithmetic stays whole", tpl: "{{ value_json.b * 100 // 255 }}", payload: `{"b":255}`, want: "100"},
		{name: "filters bind tighter than arithmetic", tpl: "{{ value | float * 2 }}", payload: "1.5", want: "3.0"},
		{name: "an inline if", tpl: "{{ 'ON' if value_json.state == 'on' else 'OFF' }}", payload: `{"state":"on"}`, want: "ON"},
		{name: "an inline if's other branch", tpl: "{{ 'ON' if value_json.state == 'on' else 'OFF' }}", payload: `{"state":"off"}`, want: "OFF"},
		{name: "a comparison of numbers", tpl: "{{ value | float > 20 }}", payload: "21", want: "True"},
		{name: "and / or / not", tpl: "{{ not (value_json.a and value_json.b) or value_json.c }}", payload: `{"a":true,"b":false,"c":false}`, want: "True"},
		{name: "is defined", tpl: "{{ value_json.x is defined }}", payload: `{"x":1}`, want: "True"},
		{name: "is not defined", tpl: "{{ value_json.y is not defined }}", payload: `{"x":1}`, want: "True"},
		{name: "in a list", tpl: "{{ 'b' in value_json.l }}", payload: `{"l":["a","b"]}`, want: "True"},
		{name: "not in a map", tpl: "{{ 'z' not in value_json }}", payload: `{"a":1}`, want: "True"},
		{name: "concatenation", tpl: "{{ value ~ '%' }}", payload: "50", want: "50%"},
		{name: "replace", tpl: "{{ value | replace(',', '.') | float }}", payload: "21,5", want: "21.5"},
		{name: "trim", tpl: "{{ value | trim }}", payload: "  x  ", want: "x"},
		{name: "a boolean renders as Python does", tpl: "{{ value_json.on }}", payload: `{"on":true}`, want: "True"},
		{name: "none renders as None", tpl: "{{ value_json.x }}", payload: `{"x":null}`, want: "None"},
		{name: "tojson", tpl: "{{ value_json.c | tojson }}", payload: `{"c":{"x":1}}`, want: `{"x":1}`},
		{name: "float() as a function", tpl: "{{ float(value) + 1 }}", payload: "1", want: "2.0"},
		{name: "whitespace control trims around the tag", tpl: "a  {{- value -}}  b", payload: "x", want: "axb"},
		{name: "a comment is dropped", tpl: "{# note #}{{ value }}", payload: "x", want: "x"},
		{name: "a string with escapes", tpl: `{{ "a\"b" }}`, payload: "", want: `a"b`},
		{name: "length", tpl: "{{ value_json.l | length }}", payload: `{"l":[1,2]}`, want: "2"},
		{name: "is_defined passes a defined value", tpl: "{{ value_json.x | is_defined }}", payload: `{"x":3}`, want: "3"},
		{name: "modulo floors like Python", tpl: "{{ -7 % 3 }}", payload: "", want: "2"},
		{name: "a small float keeps Python's form", tpl: "{{ value | float }}", payload: "0.00001", want: "1e-05"},

		{name: "a missing key is undefined", tpl: "{{ value_json.x }}", payload: `{}`, err: "undefined"},
		{name: "a key of a missing key fails", tpl: "{{ value_json.x.y }}", payload: `{}`, err: "undefined"},
		{name: "value_json of a payload that is not JSON is undefined", tpl: "{{ value_json.x }}", payload: `ON`, err: "undefined"},
		{name: "float of text without a default fails", tpl: "{{ value | float }}", payload: "n/a", err: "give a default"},
		{name: "is_defined fails on a missing key", tpl: "{{ value_json.x | is_defined }}", payload: `{}`, err: "undefined"},
		{name: "division by zero fails", tpl: "{{ 1 / 0 }}", payload: "", err: "division by zero"},
		{name: "comparing a string with a number fails", tpl: "{{ value < 3 }}", payload: "x", err: "cannot compare"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tpl, err := parseTemplate(tc.tpl, "value", "value_json")
			if err != nil {
				t.Fatalf("parse %q: %v", tc.tpl, err)
			}
			got, err := tpl.render(valueEnv([]byte(tc.payload)))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("render = %q, %v; want an error saying %q", got, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			if got != tc.want {
				t.Errorf("render = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTemplateUnsupported(t *testing.T) {
	cases := []struct {
		name, tpl, says string
		unsupported     bool
	}{
		{"a statement block", "{% if value == 'ON' %}on{% endif %}", "statements", true},
		{"a Home Assistant function", "{{ states('sensor.x') }}", "function states()", true},
		{"an unknown filter", "{{ value | timestamp_local }}", `filter "timestamp_local"`, true},
		{"a method call", "{{ value.split(',')[0] }}", "method call .split()", true},
		{"an unknown variable", "{{ this.state }}", `variable "this"`, true},
		{"an unknown test", "{{ value is even }}", `test "even"`, true},
		{"an unclosed expression", "{{ value ", "expected }}", false},
		{"an unclosed string", "{{ 'abc }}", "not closed", false},
		{"an unclosed comment", "{# x", "not closed", false},
		{"nothing after a filter bar", "{{ value | }}", "filter name", false},
		{"too deep", strings.Repeat("(", 100) + "1" + strings.Repeat(")", 100), "", false},
		{"too long", "{{ value }}" + strings.Repeat(" ", maxTemplateLen), "at most", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.tpl
			if tc.name == "too deep" {
				src = "{{ " + src + " }}"
			}
			_, err := parseTemplate(src, "value", "value_json")
			if err == nil {
				t.Fatalf("parse %q succeeded", tc.tpl)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q does not say %q", err, tc.says)
			}
			if errors.Is(err, errUnsupported) != tc.unsupported {
				t.Errorf("error %q: unsupported = %v, want %v", err, errors.Is(err, errUnsupported), tc.unsupported)
			}
		})
	}
}

func TestCommandTemplate(t *testing.T) {
	cases := []struct {
		tpl   string
		value any
		want  string
	}{
		{"{{ value }}", "ON", "ON"},
		{`{"state": "{{ value }}"}`, "ON", `{"state": "ON"}`},
		{"{{ 'on' if value == 'ON' else 'off' }}", "ON", "on"},
		{"{{ value | int }}", 200.0, "200"},
		{"{{ (value / 2.55) | round }}", 255.0, "100"},
	}
	for _, tc := range cases {
		tpl, err := parseTemplate(tc.tpl, "value")
		if err != nil {
			t.Fatalf("parse %q: %v", tc.tpl, err)
		}
		got, err := tpl.render(commandEnv(tc.value))
		if err != nil || got != tc.want {
			t.Errorf("%s with %v = %q, %v; want %q", tc.tpl, tc.value, got, err, tc.want)
		}
	}
	if _, err := parseTemplate("{{ value_json.x }}", "value"); err == nil {
		t.Errorf("a command template may not read value_json")
	}
}
