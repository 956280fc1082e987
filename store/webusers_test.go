package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestWebUsers(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "hearth.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()

	t.Run("a new database has no page users", func(t *testing.T) {
		if has, err := s.HasWebUsers(ctx); err != nil || has {
			t.Fatalf("%v %v", has, err)
		}
	})
	t.Run("a user is added once and logs in with their password only", func(t *testing.T) {
		if err := s.AddWebUser(ctx, "ann", "correct horse"); err != nil {
			t.Fatal(err)
		}
		if err := s.AddWebUser(ctx, "ann", "other password"); !errors.Is(err, ErrUserExists) {
			t.Fatalf("second add: %v", err)
		}
		for _, c := range []struct {
			name, pw string
			ok       bool
		}{{"ann", "correct horse", true}, {"ann", "wrong horse", false}, {"bob", "correct horse", false}} {
			if ok, err := s.CheckWebPassword(ctx, c.name, c.pw); err != nil || ok != c.ok {
				t.Errorf("%s/%s: %v %v", c.name, c.pw, ok, err)
			}
		}
		if has, _ := s.HasWebUsers(ctx); !has {
			t.Fatal("no users after add")
		}
	})
	t.Run("a short password is refused", func(t *testing.T) {
		if err := s.AddWebUser(ctx, "bob", "short"); err == nil {
			t.Fatal("accepted")
		}
	})
	t.Run("a session lasts until it expires or is deleted", func(t *testing.T) {
		if err := s.AddSession(ctx, "h1", "ann", now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if u, _ := s.SessionUser(ctx, "h1", now); u != "ann" {
			t.Fatalf("user %q", u)
		}
		if u, _ := s.SessionUser(ctx, "h1", now.Add(2*time.Hour)); u != "" {
			t.Fatalf("expired session still has user %q", u)
		}
		if err := s.DeleteSession(ctx, "h1"); err != nil {
			t.Fatal(err)
		}
		if u, _ := s.SessionUser(ctx, "h1", now); u != "" {
			t.Fatalf("deleted session still has user %q", u)
		}
	})
	t.Run("a changed password ends the user's sessions", func(t *testing.T) {
		_ = s.AddSession(ctx, "h2", "ann", now.Add(time.Hour))
		if err := s.SetWebPassword(ctx, "ann", "new password!"); err != nil {
			t.Fatal(err)
		}
		if u, _ := s.SessionUser(ctx, "h2", now); u != "" {
			t.Fatalf("session survived: %q", u)
		}
		if ok, _ := s.CheckWebPassword(ctx, "ann", "new password!"); !ok {
			t.Fatal("new password refused")
		}
	})
	t.Run("a revoked token stops working", func(t *testing.T) {
		if err := s.AddToken(ctx, "t1", "script", "ann", "th1", now); err != nil {
			t.Fatal(err)
		}
		if id, u, _ := s.TokenUser(ctx, "th1"); id != "t1" || u != "ann" {
			t.Fatalf("%q %q", id, u)
		}
		if err := s.RevokeToken(ctx, "t1", now); err != nil {
			t.Fatal(err)
		}
		if id, _, _ := s.TokenUser(ctx, "th1"); id != "" {
			t.Fatal("revoked token still valid")
		}
		if err := s.RevokeToken(ctx, "t1", now); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second revoke: %v", err)
		}
		n := 0
		_ = s.EachToken(ctx, func(id, name, user string, created, revoked time.Time) {
			n++
			if id != "t1" || name != "script" || revoked.IsZero() {
				t.Errorf("%s %s %v", id, name, revoked)
			}
		})
		if n != 1 {
			t.Fatalf("%d tokens listed", n)
		}
	})
	t.Run("removing a user removes their sessions and tokens", func(t *testing.T) {
		_ = s.AddSession(ctx, "h3", "ann", now.Add(time.Hour))
		_ = s.AddToken(ctx, "t2", "other", "ann", "th2", now)
		if err := s.RemoveWebUser(ctx, "ann"); err != nil {
			t.Fatal(err)
		}
		if u, _ := s.SessionUser(ctx, "h3", now); u != "" {
			t.Fatal("session survived")
		}
		if id, _, _ := s.TokenUser(ctx, "th2"); id != "" {
			t.Fatal("token survived")
		}
		if err := s.RemoveWebUser(ctx, "ann"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second remove: %v", err)
		}
	})
}

func TestDummyHashCostsAsMuchAsAPassword(t *testing.T) {
	cost, err := bcrypt.Cost([]byte(dummyHash))
	if err != nil {
		t.Fatalf("the dummy hash is no bcrypt hash: %v", err)
	}
	if cost != webCost {
		t.Fatalf("the dummy hash has cost %d, passwords %d: a wrong name would not take as long as a wrong password", cost, webCost)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(dummyHash), []byte("hearth: no such user")); err != nil {
		t.Fatalf("the dummy hash is not that of its text: %v", err)
	}
}
