package broker

import (
	"testing"
	"time"
)

func TestEchoes(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }

	t.Run("a publish's echo is taken once, with the publish's sequence number", func(t *testing.T) {
		e := newEchoes(clock)
		e.add("home/lamp/set", []byte("ON"), 7)
		if seq, ok := e.take("home/lamp/set", []byte("ON")); !ok || seq != 7 {
			t.Fatalf("take = %d, %v; want 7, true", seq, ok)
		}
		if _, ok := e.take("home/lamp/set", []byte("ON")); ok {
			t.Fatal("the same echo was taken twice: a second identical message would be lost")
		}
	})

	t.Run("another payload on the same topic is not an echo", func(t *testing.T) {
		e := newEchoes(clock)
		e.add("home/lamp/set", []byte("ON"), 7)
		if _, ok := e.take("home/lamp/set", []byte("OFF")); ok {
			t.Fatal("a different payload was taken as the echo")
		}
	})

	t.Run("two identical publishes have two echoes, in order", func(t *testing.T) {
		e := newEchoes(clock)
		e.add("t", []byte("x"), 1)
		e.add("t", []byte("x"), 2)
		first, _ := e.take("t", []byte("x"))
		second, _ := e.take("t", []byte("x"))
		if first != 1 || second != 2 {
			t.Fatalf("took %d then %d, want 1 then 2", first, second)
		}
	})

	t.Run("an echo that never came expires", func(t *testing.T) {
		e := newEchoes(clock)
		e.add("t", []byte("x"), 1)
		now = now.Add(echoWindow)
		if _, ok := e.take("t", []byte("x")); ok {
			t.Fatal("an expired entry was taken")
		}
		e.add("u", []byte("y"), 2) // sweeps
		if e.n != 1 {
			t.Fatalf("%d entries after the sweep, want 1", e.n)
		}
	})

	t.Run("a publish that failed leaves no entry", func(t *testing.T) {
		e := newEchoes(clock)
		e.add("t", []byte("x"), 1)
		e.forget("t", []byte("x"), 1)
		if _, ok := e.take("t", []byte("x")); ok || e.n != 0 {
			t.Fatalf("an entry survived forget (%d left)", e.n)
		}
	})

	t.Run("a nil filter takes nothing", func(t *testing.T) {
		var e *echoes
		e.add("t", []byte("x"), 1)
		if _, ok := e.take("t", []byte("x")); ok {
			t.Fatal("a nil filter took a message")
		}
	})
}
