package devices

import (
	"slices"

	"hearth"
)

// Info returns what the hub knows of device id besides its state: the
// adapter that reads it, its name and room (the devices file's, else the
// device's own), kind, model and capabilities, and warnings about what
// could not be read. It reports whether the device is known at all, by its
// state, an adapter or the devices file.
func (r *Registry) Info(id string) (hearth.DeviceInfo, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.infoLocked(id)
}

// Infos returns the Info of every known device, sorted by id.
func (r *Registry) Infos() []hearth.DeviceInfo {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ids := slices.Clone(r.ids)
	for id := range r.meta {
		ids = append(ids, id)
	}
	if r.file != nil {
		for _, d := range r.file.devices {
			ids = append(ids, d.id)
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	out := make([]hearth.DeviceInfo, 0, len(ids))
	for _, id := range ids {
		if in, ok := r.infoLocked(id); ok {
			out = append(out, in)
		}
	}
	return out
}

func (r *Registry) infoLocked(id string) (hearth.DeviceInfo, bool) {
	m := r.meta[id]
	_, hasState := r.devices[id]
	fd := r.file.device(id)
	if m == nil && !hasState && fd == nil {
		return hearth.DeviceInfo{}, false
	}
	in := hearth.DeviceInfo{Adapter: adapterNative}
	if m != nil {
		in = m.info
		in.Adapter = m.adapter
		in.Capabilities = slices.Clone(in.Capabilities)
		in.Warnings = slices.Clone(in.Warnings)
	}
	in.ID = id
	if fd != nil {
		if fd.name != "" {
			in.Name = fd.name
		}
		in.Room = fd.room
		if fd.kind != "" {
			in.Kind = fd.kind
		}
	}
	return in, true
}

// Heard reports whether any device besides the hub's own (the house, the
// alarm, people) has spoken. On a new hub none has, and warnings about
// devices "not seen yet" would be said of every device in the house.
func (r *Registry) Heard() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, id := range r.ids {
		if in, _ := r.infoLocked(id); in.Adapter != adapterHub {
			return true
		}
	}
	return false
}
