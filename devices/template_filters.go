package devices

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
)

// filters are the filters (and, for float, int and bool, functions) a
// template may use, Home Assistant's way: float and int fail on a value
// that is not a number unless given a default.
var filters = map[string]func(x tval, args []tval) (tval, error){
	"float": func(x tval, args []tval) (tval, error) {
		f, ok := toFloat(x)
		if !ok {
			return withDefault(x, args, "a number")
		}
		return tval{k: tFloat, f: f}, nil
	},
	"int": func(x tval, args []tval) (tval, error) {
		if x.k == tStr {
			if i, err := strconv.ParseInt(strings.TrimSpace(x.s), 10, 64); err == nil {
				return tval{k: tInt, i: i}, nil
			}
		}
		f, ok := toFloat(x)
		if !ok || math.Abs(f) >= 1<<63 {
			return withDefault(x, args, "a whole number")
		}
		return tval{k: tInt, i: int64(f)}, nil
	},
	"bool": func(x tval, args []tval) (tval, error) {
		switch x.k {
		case tBool:
			return x, nil
		case tInt, tFloat:
			if x.num() == 0 || x.num() == 1 {
				return tval{k: tBool, b: x.num() == 1}, nil
			}
		case tStr:
			switch strings.ToLower(strings.TrimSpace(x.s)) {
			case "true", "yes", "on", "enable", "1":
				return tval{k: tBool, b: true}, nil
			case "false", "no", "off", "disable", "0":
				return tval{k: tBool}, nil
			}
		}
		return withDefault(x, args, "true or false")
	},
	"round": func(x tval, args []tval) (tval, error) {
		f, ok := toFloat(x)
		if !ok {
			return tval{}, fmt.Errorf("%s is not a number", x.describe())
		}
		prec := int64(0)
		if len(args) > 0 {
			if args[0].k != tInt || args[0].i < 0 || args[0].i > 15 {
				return tval{}, errors.New("precision must be a whole number from 0 to 15")
			}
			prec = args[0].i
		}
		method := "common"
		if len(args) > 1 {
			method = args[1].s
		}
		p := math.Pow(10, float64(prec))
		switch method {
		case "common":
			f = math.Round(f*p) / p
		case "ceil":
			f = math.Ceil(f*p) / p
		case "floor":
			f = math.Floor(f*p) / p
		case "half":
			f = math.Round(f*2) / 2
		default:
			return tval{}, fmt.Errorf("method %q: common, ceil, floor or half", method)
		}
		if prec == 0 && math.Abs(f) < 1<<63 { // Home Assistant gives an int then
			return tval{k: tInt, i: int64(f)}, nil
		}
		return tval{k: tFloat, f: f}, nil
	},
	"abs": func(x tval, _ []tval) (tval, error) {
		switch x.k {
		case tInt:
			if x.i < 0 {
				x.i = -x.i
			}
			return x, nil
		case tFloat:
			return tval{k: tFloat, f: math.Abs(x.f)}, nil
		}
		return tval{}, fmt.Errorf("%s is not a number", x.describe())
	},
	"default": func(x tval, args []tval) (tval, error) {
		if len(args) == 0 {
			args = []tval{{k: tStr}}
		}
		if x.k == tUndef || len(args) > 1 && args[1].truthy() && !x.truthy() {
			return args[0], nil
		}
		return x, nil
	},
	"is_defined": func(x tval, _ []tval) (tval, error) {
		if x.k == tUndef {
			return tval{}, errors.New("the value is undefined")
		}
		return x, nil
	},
	"lower":      stringFilter(strings.ToLower),
	"upper":      stringFilter(strings.ToUpper),
	"trim":       stringFilter(strings.TrimSpace),
	"string":     stringFilter(func(s string) string { return s }),
	"capitalize": stringFilter(capitalize),
	"title":      stringFilter(title),
	"replace": func(x tval, args []tval) (tval, error) {
		if len(args) < 2 {
			return tval{}, errors.New("replace needs the old and the new text")
		}
		old, repl := args[0].text(), args[1].text()
		s := x.text()
		if n := strings.Count(s, old); len(s)+n*(len(repl)-len(old)) > maxTemplateOutput {
			return tval{}, errors.New("the template's output is too long")
		}
		return tval{k: tStr, s: strings.ReplaceAll(s, old, repl)}, nil
	},
	"length": func(x tval, _ []tval) (tval, error) {
		switch x.k {
		case tStr:
			return tval{k: tInt, i: int64(len([]rune(x.s)))}, nil
		case tMap:
			return tval{k: tInt, i: int64(len(x.m))}, nil
		case tList:
			return tval{k: tInt, i: int64(len(x.l))}, nil
		}
		return tval{}, fmt.Errorf("%s has no length", x.describe())
	},
	"tojson":  toJSONFilter,
	"to_json": toJSONFilter,
	"from_json": func(x tval, _ []tval) (tval, error) {
		d := json.NewDecoder(strings.NewReader(x.text()))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			return tval{}, fmt.Errorf("not JSON: %w", err)
		}
		return fromJSON(v), nil
	},
}

func toJSONFilter(x tval, _ []tval) (tval, error) {
	var v any
	switch x.k {
	case tUndef:
		return tval{}, errors.New("the value is undefined")
	case tBool:
		v = x.b
	case tInt:
		v = x.i
	case tFloat:
		v = x.f
	case tStr:
		v = x.s
	case tMap:
		v = x.m
	case tList:
		v = x.l
	}
	b, err := json.Marshal(v)
	if err != nil {
		return tval{}, err
	}
	return tval{k: tStr, s: string(b)}, nil
}

func stringFilter(f func(string) string) func(tval, []tval) (tval, error) {
	return func(x tval, _ []tval) (tval, error) {
		if x.k == tUndef {
			return tval{k: tStr}, nil // Jinja renders an undefined value as ""
		}
		return tval{k: tStr, s: f(x.text())}, nil
	}
}

func capitalize(s string) string {
	r := []rune(strings.ToLower(s))
	if len(r) > 0 {
		r[0] = unicode.ToUpper(r[0])
	}
	return string(r)
}

func title(s string) string {
	r := []rune(strings.ToLower(s))
	start := true
	for i, c := range r {
		if start && unicode.IsLetter(c) {
			r[i] = unicode.ToUpper(c)
		}
		start = !unicode.IsLetter(c) && !unicode.IsDigit(c)
	}
	return string(r)
}

// toFloat converts like Python's float(): numbers, booleans and strings
// holding a number.
func toFloat(x tval) (float64, bool) {
	switch x.k {
	case tInt:
		return float64(x.i), true
	case tFloat:
		return x.f, true
	case tBool:
		if x.b {
			return 1, true
		}
		return 0, true
	case tStr:
		f, err := strconv.ParseFloat(strings.TrimSpace(x.s), 64)
		return f, err == nil
	}
	return 0, false
}

// withDefault returns the default given as the first argument, or an error
// saying what x should have been.
func withDefault(x tval, args []tval, want string) (tval, error) {
	if len(args) > 0 {
		return args[0], nil
	}
	return tval{}, fmt.Errorf("%s is not %s (give a default)", x.describe(), want)
}

// normalizeJSON turns json.Number into float64 so values compare.
func normalizeJSON(v any) any {
	switch v := v.(type) {
	case json.Number:
		f, _ := v.Float64()
		return f
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = normalizeJSON(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = normalizeJSON(x)
		}
		return out
	}
	return v
}
