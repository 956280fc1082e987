package main

import (
	"context"
	"testing"

	"hearth"
)

// recordingCommander keeps what it is asked to send.
type recordingCommander struct{ sent []hearth.Command }

func (r *recordingCommander) Command(_ context.Context, c hearth.Command) (hearth.Event, error) {
	r.sent = append(r.sent, c)
	return hearth.Event{Topic: c.Topic}, nil
}

// plugTranslator speaks like a Tasmota plug: one command topic per device.
type plugTranslator struct{}

func (plugTranslator) CommandFor(id string, payload []byte) ([]hearth.Command, error) {
	return []hearth.Command{{Topic: "cmnd/" + id + "/POWER", Payload: []byte("ON")}}, nil
}

func TestDeviceCommandKeepsCauseQoSAndRetainThroughTranslation(t *testing.T) {
	next := &recordingCommander{}
	d := deviceCommander{next: next, translate: plugTranslator{}, base: "home"}
	in := hearth.Command{
		Topic: "home/plug/set", Device: "plug", Payload: []byte(`{"state":"ON"}`),
		QoS: 1, Retain: true, Cause: hearth.Cause{Seq: 7, Run: "r1"},
	}
	if _, err := d.Command(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if len(next.sent) != 1 {
		t.Fatalf("sent %d commands, want 1", len(next.sent))
	}
	got := next.sent[0]
	if got.Topic != "cmnd/plug/POWER" || got.QoS != 1 || !got.Retain || got.Cause != in.Cause {
		t.Errorf("sent %+v; want the plug's topic with QoS 1, retained, and the cause %+v", got, in.Cause)
	}
}
