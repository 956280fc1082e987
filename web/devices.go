package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"hearth"
)

// maxMetaLen bounds a device's name and room, in characters.
const maxMetaLen = 64

// deviceJSON is a device as the API shows it: its state as the read model
// holds it, with the name and room people gave it, and what the hub knows
// it is and can be set to.
type deviceJSON struct {
	hearth.DeviceState
	Name string `json:"name"`
	Room string `json:"room"`
	// Kind says what the device is, when known: "light",
	// "alarm_control_panel", "select" (the house mode).
	Kind string `json:"kind,omitempty"`
	// Choices are, by attribute, the values a command may set it to: the
	// house's modes, {"mode": ["home", "away", ...]}.
	Choices map[string][]string `json:"choices,omitempty"`
	// Capabilities are the attributes a command can set, with what the
	// page needs to draw a control for each, and the unit of any other
	// attribute that has one: the device's own unit beats the page's guess
	// (a voltage in mV).
	Capabilities []hearth.Capability `json:"capabilities,omitempty"`
}

// withDevice checks the {id} of the path, so that every handler of a device
// answers a malformed id the same way.
func (s *Server) withDevice(h func(w http.ResponseWriter, r *http.Request, id string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if why := hearth.DeviceIDProblem(id); why != "" {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("device id %q is not valid: it %s", id, why))
			return
		}
		h(w, r, id)
	}
}

// meta returns the names and rooms, or none when they cannot be read: the
// page still works without them, so the error is logged, not returned.
func (s *Server) meta(r *http.Request) map[string]hearth.DeviceMeta {
	if s.opts.Meta == nil {
		return nil
	}
	m, err := s.opts.Meta.DeviceMeta(r.Context())
	if err != nil {
		s.log.Error("read device names", "err", err)
		return nil
	}
	return m
}

// withMeta joins a device's state with its name and room: those set on the
// page, else those of the devices file or discovery.
func (s *Server) withMeta(d hearth.DeviceState, meta map[string]hearth.DeviceMeta) deviceJSON {
	var info hearth.DeviceInfo
	if s.opts.Info != nil {
		info, _ = s.opts.Info.Info(d.ID)
	}
	m := meta[d.ID].Or(info)
	out := deviceJSON{DeviceState: d, Name: m.Name, Room: m.Room, Kind: info.Kind}
	for _, c := range info.Capabilities {
		if cp, ok := pageCapability(c); ok {
			out.Capabilities = append(out.Capabilities, cp)
		}
		// Only an attribute the state holds: the alarm's actions are not
		// a state to pick, the alarm has its own endpoint.
		if _, held := d.State[c.Attr]; c.Set && c.Type == "enum" && len(c.Values) > 0 && held {
			if out.Choices == nil {
				out.Choices = map[string][]string{}
			}
			out.Choices[c.Attr] = c.Values
		}
	}
	return out
}

// pageCapability trims a capability to what the page uses, so that the
// device list stays small: the class and the toggle value are left out
// (the page knows the state it flips), and an attribute no command sets
// keeps only its unit, or is left out without one.
func pageCapability(c hearth.Capability) (hearth.Capability, bool) {
	if !c.Set {
		return hearth.Capability{Attr: c.Attr, Type: c.Type, Unit: c.Unit}, c.Unit != ""
	}
	c.Class, c.Toggle = "", nil
	return c, true
}

func (s *Server) listDevices(w http.ResponseWriter, r *http.Request) {
	devices := s.opts.Devices.Devices()
	meta := s.meta(r)
	out := make([]deviceJSON, len(devices))
	for i, d := range devices {
		out[i] = s.withMeta(d, meta)
	}
	writeJSON(w, http.StatusOK, out)
}

// device returns a known device with its name and room, or answers 404.
func (s *Server) device(w http.ResponseWriter, r *http.Request, id string) (deviceJSON, bool) {
	d, ok := s.opts.Devices.Device(id)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no device %q", id))
		return deviceJSON{}, false
	}
	return s.withMeta(d, s.meta(r)), true
}

func (s *Server) getDevice(w http.ResponseWriter, r *http.Request, id string) {
	if d, ok := s.device(w, r, id); ok {
		writeJSON(w, http.StatusOK, d)
	}
}

// putDevice sets a device's name and room: {"name": "...", "room": "..."};
// a field left out is set empty. Both empty forget what the page set, and
// the devices file's name and room show again.
func (s *Server) putDevice(w http.ResponseWriter, r *http.Request, id string) {
	if s.opts.Meta == nil {
		unavailable(w, "storing device names")
		return
	}
	d, ok := s.device(w, r, id)
	if !ok {
		return
	}
	var m hearth.DeviceMeta
	if err := readJSON(w, r, &m); err != nil {
		writeError(w, bodyStatus(err), err.Error())
		return
	}
	m.Name, m.Room = strings.TrimSpace(m.Name), strings.TrimSpace(m.Room)
	for _, f := range []struct{ name, v string }{{"name", m.Name}, {"room", m.Room}} {
		if err := checkLabel(f.v); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("%s: %v", f.name, err))
			return
		}
	}
	if err := s.opts.Meta.SetDeviceMeta(r.Context(), id, m); err != nil {
		s.log.Error("store device name", "device", id, "err", err)
		writeError(w, http.StatusInternalServerError, "could not store the name and room")
		return
	}
	writeJSON(w, http.StatusOK, s.withMeta(d.DeviceState, map[string]hearth.DeviceMeta{id: m}))
}

// checkLabel accepts a name or room people can read: short, printable.
func checkLabel(s string) error {
	if n := utf8.RuneCountInString(s); n > maxMetaLen {
		return fmt.Errorf("%d characters, at most %d", n, maxMetaLen)
	}
	for _, c := range s {
		if !unicode.IsPrint(c) {
			return fmt.Errorf("character %U is not printable", c)
		}
	}
	return nil
}

// setDevice sends a command to a device: the body, a JSON object such as
// {"state":"ON","brightness":200}, is published to <base>/<id>/set through
// the Commander, which logs it first with the cause "web" (or "web user
// ann" when someone is logged in). It answers 202 with the command's
// event: the device's new state arrives later, as a state event on the
// stream. A command the device cannot take (an attribute it lacks, a value
// of the wrong kind) is a 400 saying which and why; 502 is for trouble
// sending it.
func (s *Server) setDevice(w http.ResponseWriter, r *http.Request, id string) {
	if s.opts.Commander == nil {
		unavailable(w, "sending commands")
		return
	}
	if !s.commandable(id) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no device %q", id))
		return
	}
	var attrs map[string]json.RawMessage
	if err := readJSON(w, r, &attrs); err != nil {
		writeError(w, bodyStatus(err), err.Error())
		return
	}
	if len(attrs) == 0 {
		writeError(w, http.StatusBadRequest, `the body must be a JSON object with at least one attribute, such as {"state":"ON"}`)
		return
	}
	// Re-encoded, compact with sorted keys: the device gets a clean payload
	// and the log a canonical one.
	payload, err := json.Marshal(attrs)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("the body cannot be encoded: %v", err))
		return
	}
	ev, err := s.opts.Commander.Command(r.Context(), hearth.Command{
		Device:  id,
		Topic:   s.opts.BaseTopic + "/" + id + "/set",
		Payload: payload,
		Cause:   cause(r),
	})
	if err != nil {
		s.commandFailed(w, id, err)
		return
	}
	writeJSON(w, http.StatusAccepted, ev)
}

// commandable reports whether the hub knows device id well enough to
// command it: it has a state, or an adapter or the devices file describes
// it (a fan the devices file maps commands to, which reports nothing).
func (s *Server) commandable(id string) bool {
	if _, ok := s.opts.Devices.Device(id); ok {
		return true
	}
	if s.opts.Info == nil {
		return false
	}
	_, ok := s.opts.Info.Info(id)
	return ok
}

// commandFailed answers a command the Commander did not send: 400 when it
// does not fit the device (hearth.ErrBadCommand, the sender's mistake, so
// not logged as the hub's), 502 when the broker could not take it.
func (s *Server) commandFailed(w http.ResponseWriter, id string, err error) {
	if errors.Is(err, hearth.ErrBadCommand) {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.log.Error("command", "device", id, "err", err)
	writeError(w, http.StatusBadGateway, fmt.Sprintf("the command to %q was not sent: %v", id, err))
}
