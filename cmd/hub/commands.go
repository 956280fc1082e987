package main

import (
	"context"
	"errors"
	"fmt"

	"hearth"
)

// deviceCommander sends a device command ({"state":"ON"} to <base>/<id>/set,
// from an automation or the page) in the form the device's adapter speaks:
// Zigbee2MQTT's /set, Tasmota's cmnd/<t>/POWER, Home Assistant's command
// topic and template. Any other command goes out as it is.
type deviceCommander struct {
	next      hearth.Commander
	translate interface {
		CommandFor(id string, payload []byte) ([]hearth.Command, error)
	}
	base string
}

// Command translates c when it is a device command, and sends the result in
// order with c's cause. It returns the event of the last command sent.
func (d deviceCommander) Command(ctx context.Context, c hearth.Command) (hearth.Event, error) {
	if c.Device == "" || c.Topic != d.base+"/"+c.Device+"/set" {
		return d.next.Command(ctx, c)
	}
	cmds, err := d.translate.CommandFor(c.Device, c.Payload)
	if err != nil {
		return hearth.Event{}, err
	}
	if len(cmds) == 0 {
		return hearth.Event{}, fmt.Errorf("device %s: %w: the command says nothing it can do", c.Device, hearth.ErrBadCommand)
	}
	var last hearth.Event
	var errs []error
	for _, t := range cmds {
		t.Cause = c.Cause
		if t.QoS < c.QoS {
			t.QoS = c.QoS
		}
		// A retained command stays retained in whatever form the adapter
		// speaks: the device gets it when it reconnects.
		t.Retain = t.Retain || c.Retain
		ev, err := d.next.Command(ctx, t)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		last = ev
	}
	return last, errors.Join(errs...)
}
