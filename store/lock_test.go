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
	first := openAt(t, path)
	if err := first.Lock(); err != nil {
		t.Fatalf("the first recorder: %v", err)
	}
	second, err := Open(path, testLogger(t))
	if err != nil {
		t.Fatalf("a reader opens the locked log: %v", err)
	}
	defer second.Close()
	err = second.Lock()
	if want := fmt.Sprintf("in use by process %d, another hub on the same data folder", os.Getpid()); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("the second recorder: %v, want an error saying %q", err, want)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if err := second.Lock(); err != nil {
		t.Fatalf("once the first closed: %v", err)
	}
}
