package store

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLockKeepsASecondRecorderOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hearth.db")
	first, err := Lock(path)
	if err != nil {
		t.Fatalf("the first recorder: %v", err)
	}
	_, err = Lock(path)
	if want := fmt.Sprintf("in use by process %d, another hub on the same data folder", os.Getpid()); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("the second recorder: %v, want an error saying %q", err, want)
	}
	reader := openAt(t, path) // what records no events opens the log all the same
	if _, _, err := reader.Devices(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Lock(path)
	if err != nil {
		t.Fatalf("once the first let go: %v", err)
	}
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}
}
