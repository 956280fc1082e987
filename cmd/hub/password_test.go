package main

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal: what a person types goes into main, the
// program reads it from tty.
func openPTY(t *testing.T) (main, tty *os.File) {
	t.Helper()
	main, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK, 0) // non-blocking: read deadlines work
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { main.Close() })
	if err := unix.IoctlSetPointerInt(int(main.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(main.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	return main, tty
}

func TestAPasswordTypedAtATerminalIsNotShownAndIsAskedTwice(t *testing.T) {
	for _, tc := range []struct {
		name, first, second, want, err string
	}{
		{"the same twice", "correct horse", "correct horse", "correct horse", ""},
		{"a typo the second time", "correct horse", "correct hrose", "", "the two passwords differ"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			main, tty := openPTY(t)
			prompt := &lockedBuffer{}
			type result struct {
				password string
				err      error
			}
			done := make(chan result, 1)
			go func() {
				p, err := readPassword(tty, prompt, "lamp")
				done <- result{p, err}
			}()
			// A person types once asked, and the terminal shows what
			// arrives while its echo is on.
			typeAfter := func(asked, line string) {
				t.Helper()
				eventually(t, "asked "+asked+" with the echo off", func() bool {
					tio, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
					return err == nil && tio.Lflag&unix.ECHO == 0 && strings.Contains(prompt.String(), asked)
				})
				if _, err := main.WriteString(line + "\n"); err != nil {
					t.Fatal(err)
				}
			}
			typeAfter("password for lamp", tc.first)
			typeAfter("the same password again for lamp", tc.second)
			r := <-done
			if r.password != tc.want || (r.err == nil) != (tc.err == "") || r.err != nil && !strings.Contains(r.err.Error(), tc.err) {
				t.Fatalf("got %q, %v; want %q, %q", r.password, r.err, tc.want, tc.err)
			}
			if err := main.SetReadDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
				t.Fatal(err)
			}
			shown := make([]byte, 256)
			n, _ := main.Read(shown)
			if strings.Contains(string(shown[:n]), "horse") || strings.Contains(string(shown[:n]), "hrose") {
				t.Fatalf("the terminal showed the password: %q", shown[:n])
			}
		})
	}
}

func TestAPasswordPipedInIsItsFirstLine(t *testing.T) {
	var prompt bytes.Buffer
	got, err := readPassword(strings.NewReader("s3cret\nignored\n"), &prompt, "lamp")
	if got != "s3cret" || err != nil || prompt.Len() != 0 {
		t.Fatalf("got %q, %v, prompt %q", got, err, prompt.String())
	}
}
