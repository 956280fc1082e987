package broker

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

// TestMochisLogLeavesPayloadsOut logs through mochiLog what mochi logs when
// a hook refuses a publish: the whole packet. An alarm keypad's code must
// not reach the hub's log that way, and a refusal because the log could not
// take the message (said by the store once a minute) is a debug line.
func TestMochisLogLeavesPayloadsOut(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(mochiLog{slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo})})
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: "home/alarm/set",
		Payload: []byte(`{"action":"disarm","code":"1234"}`)}

	log.Error("publish packet error", "error", errors.New("some hook's refusal"), "hook", "hearth", "packet", pk)
	text := out.String()
	if strings.Contains(text, "1234") || strings.Contains(text, "Payload") {
		t.Fatalf("the payload reached the log: %s", text)
	}
	for _, want := range []string{"level=ERROR", "packet.topic=home/alarm/set", "packet.type=Publish", "packet.qos=1", "packet.payload_bytes=33"} {
		if !strings.Contains(text, want) {
			t.Errorf("the line lacks %q: %s", want, text)
		}
	}

	out.Reset()
	log.Error("publish packet error", "error", errNotLogged, "hook", "hearth", "packet", &pk)
	if out.Len() != 0 {
		t.Errorf("a refusal the store says once a minute was logged for this message too: %s", out.String())
	}
	out.Reset()
	log.Debug("packet rejected", "packet", "not a packet")
	log.Warn("odd", "packet", "text")
	if strings.Contains(out.String(), "text") || !strings.Contains(out.String(), `packet="(left out)"`) {
		t.Errorf("a packet attribute of another type: %s", out.String())
	}
}
