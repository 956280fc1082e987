package store

import (
	"context"
	"path/filepath"
	"testing"

	"hearth"
)

func TestDeviceMeta(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hearth.db")
	st := openAt(t, path)

	t.Run("a new store has no names", func(t *testing.T) {
		m, err := st.DeviceMeta(ctx)
		if err != nil || len(m) != 0 {
			t.Fatalf("got %v, %v; want none", m, err)
		}
	})
	t.Run("a name and room are stored and replaced", func(t *testing.T) {
		for _, m := range []hearth.DeviceMeta{{Name: "Hall light", Room: "Hall"}, {Name: "Hall lamp", Room: "Entrance"}} {
			if err := st.SetDeviceMeta(ctx, "hall_light", m); err != nil {
				t.Fatal(err)
			}
			got, err := st.DeviceMeta(ctx)
			if err != nil || got["hall_light"] != m || len(got) != 1 {
				t.Fatalf("got %v, %v; want hall_light %v", got, err, m)
			}
		}
	})
	t.Run("names survive reopening the file", func(t *testing.T) {
		if err := st.SetDeviceMeta(ctx, "front_door", hearth.DeviceMeta{Room: "Hall"}); err != nil {
			t.Fatal(err)
		}
		again := openAt(t, path)
		got, err := again.DeviceMeta(ctx)
		if err != nil || got["front_door"].Room != "Hall" || got["hall_light"].Name != "Hall lamp" {
			t.Fatalf("after reopen: %v, %v", got, err)
		}
	})
	t.Run("an empty name and room forget the device", func(t *testing.T) {
		if err := st.SetDeviceMeta(ctx, "front_door", hearth.DeviceMeta{}); err != nil {
			t.Fatal(err)
		}
		got, err := st.DeviceMeta(ctx)
		if _, ok := got["front_door"]; ok || err != nil {
			t.Fatalf("got %v, %v; want front_door gone", got, err)
		}
	})
}
