package automations

import "github.com/expr-lang/expr/vm/runtime"

// lookup follows a read's path (a variable, then members) in the
// environment of an expression and returns what the expression language
// would give for it alone: nil for a missing key (a device never seen, an
// attribute it lacks) and nil where the language would fail (a member of
// nothing, of a number). It compiles nothing and, for the JSON values and
// the engine's own variables, allocates nothing; a near miss calls it for
// every input of an expression that was false.
func lookup(env any, path []any) (v any) {
	defer func() {
		if recover() != nil {
			v = nil // runtime.Fetch panics where an expression fails
		}
	}()
	name, _ := path[0].(string)
	rest := path[1:]
	switch e := env.(type) {
	case map[string]any: // a device trigger's `when`
		v = e[name]
	case *runEnv:
		v, rest = e.variable(name, rest)
	case *mqttEnv:
		v, rest = e.variable(name, rest)
	default:
		return nil
	}
	for _, k := range rest {
		v = fetch(v, k)
	}
	return v
}

// fetch is one member of a value, as the expression language fetches it.
// The JSON values and the states are looked up directly; anything else
// goes through the language's own runtime.
func fetch(from, key any) any {
	switch m := from.(type) {
	case nil:
		return nil
	case map[string]any:
		if k, ok := key.(string); ok {
			return m[k]
		}
	case states:
		if k, ok := key.(string); ok {
			return m[k] // a device never seen is a nil map, as the language gives it
		}
	}
	return runtime.Fetch(from, key)
}

// variable is a variable of a run's environment, with the member below it
// taken directly when it is a field of the trigger, this or repeat (so the
// struct is not copied); it returns the members left to fetch. A name the
// environment lacks is nil: an expression naming it would not compile.
func (e *runEnv) variable(name string, rest []any) (any, []any) {
	switch name {
	case "states":
		return e.States, rest
	case "trigger":
		return fieldOf(&e.Trigger, rest)
	case "now":
		return e.Now, rest
	case "this":
		return fieldOf(&e.This, rest)
	case "repeat":
		return fieldOf(&e.Repeat, rest)
	}
	return e.helpers.variable(name), rest
}

// variable is a variable of an mqtt trigger's `when`; see runEnv.variable.
func (e *mqttEnv) variable(name string, rest []any) (any, []any) {
	switch name {
	case "payload":
		return e.Payload, rest
	case "topic":
		return e.Topic, rest
	case "states":
		return e.States, rest
	case "now":
		return e.Now, rest
	case "this":
		return fieldOf(&e.This, rest)
	}
	return e.helpers.variable(name), rest
}

// fieldOf is the variable v with the first member of rest taken from its
// fields directly when rest names one (so the struct is not copied into an
// interface); it returns the members left to fetch. A struct has no
// members by index.
func fieldOf[T any, P interface {
	*T
	member(name string) any
}](v P, rest []any) (any, []any) {
	if len(rest) > 0 {
		if f, ok := rest[0].(string); ok {
			return v.member(f), rest[1:]
		}
	}
	return *v, rest
}

// variable is a helper named as a variable (not called); nil for any other name.
func (h *helpers) variable(name string) any {
	switch name {
	case "since":
		return h.Since
	case "at":
		return h.At
	case "between":
		return h.Between
	case "sunrise":
		return h.Sunrise
	case "sunset":
		return h.Sunset
	}
	return nil
}

// member is a field of the trigger variables by its name in expressions.
func (t *triggerVars) member(name string) any {
	switch name {
	case "id":
		return t.ID
	case "kind":
		return t.Kind
	case "device":
		return t.Device
	case "topic":
		return t.Topic
	case "payload":
		return t.Payload
	case "state":
		return t.State
	case "prev":
		return t.Prev
	}
	return nil
}

// member is a field of this by its name in expressions.
func (t *thisVars) member(name string) any {
	switch name {
	case "id":
		return t.ID
	case "description":
		return t.Description
	}
	return nil
}

// member is a field of repeat by its name in expressions.
func (r *repeatVars) member(name string) any {
	switch name {
	case "index":
		return r.Index
	case "first":
		return r.First
	case "last":
		return r.Last
	}
	return nil
}
