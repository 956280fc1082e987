package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// The people who log in to the page, their sessions and their API tokens.
// Passwords are kept as bcrypt hashes; session ids and tokens, which are
// random secrets made by the web server, only as their SHA-256 (given here
// already hashed), so that a copy of the database logs nobody in.

// webCost is the bcrypt cost of page passwords.
const webCost = bcrypt.DefaultCost

// dummyHash is compared against when the user is unknown, so that a wrong
// name takes as long as a wrong password: a bcrypt hash at webCost (of
// "hearth: no such user"; TestDummyHashCostsAsMuchAsAPassword checks the
// cost). It is written out rather than made when the program starts, which
// took 50 ms of every start of the hub.
const dummyHash = "$2a$10$q8AZnekekQRDPWKbjkUpnuyeWu1R69rP6E/4zhoKpOu/SYFXkCCey"

// ErrUserExists is returned by AddWebUser for a name already taken.
var ErrUserExists = errors.New("the user already exists")

// checkWebUser says what is wrong with a page user's name and password.
func checkWebUser(name, password string) error {
	switch {
	case name == "" || len(name) > 64 || strings.ContainsAny(name, " \t\r\n/"):
		return fmt.Errorf("user name %q: want 1 to 64 characters without spaces or slashes", name)
	case len(password) < 8:
		return errors.New("the password must have at least 8 characters")
	case len(password) > 72:
		return errors.New("the password must have at most 72 bytes (what bcrypt reads)")
	}
	return nil
}

// AddWebUser adds a person who may log in to the page; ErrUserExists when
// the name is taken.
func (s *Store) AddWebUser(ctx context.Context, name, password string) error {
	if err := checkWebUser(name, password); err != nil {
		return err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), webCost)
	if err != nil {
		return fmt.Errorf("add web user %q: %w", name, err)
	}
	res, err := s.w.ExecContext(ctx, `INSERT INTO web_users (name, hash) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, string(hash))
	if err != nil {
		return fmt.Errorf("add web user %q: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("add web user %q: %w", name, ErrUserExists)
	}
	return nil
}

// SetWebPassword changes a page user's password and ends their sessions.
func (s *Store) SetWebPassword(ctx context.Context, name, password string) error {
	if err := checkWebUser(name, password); err != nil {
		return err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), webCost)
	if err != nil {
		return fmt.Errorf("set web password %q: %w", name, err)
	}
	return s.inTx(ctx, "set web password "+name, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE web_users SET hash = ? WHERE name = ?`, string(hash), name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM sessions WHERE user = ?`, name)
		return err
	})
}

// RemoveWebUser removes a page user with their sessions and tokens.
func (s *Store) RemoveWebUser(ctx context.Context, name string) error {
	return s.inTx(ctx, "remove web user "+name, func(tx *sql.Tx) error {
		for _, q := range []string{`DELETE FROM sessions WHERE user = ?`, `DELETE FROM tokens WHERE user = ?`} {
			if _, err := tx.ExecContext(ctx, q, name); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM web_users WHERE name = ?`, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

func (s *Store) inTx(ctx context.Context, what string, f func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := f(tx); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// WebUserNames lists the page users by name.
func (s *Store) WebUserNames(ctx context.Context) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name FROM web_users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("web users: %w", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("web users: %w", err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("web users: %w", err)
	}
	return names, nil
}

// HasWebUsers reports whether anyone may log in to the page.
func (s *Store) HasWebUsers(ctx context.Context) (bool, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM web_users)`).Scan(&n); err != nil {
		return false, fmt.Errorf("web users: %w", err)
	}
	return n == 1, nil
}

// CheckWebPassword reports whether name and password are a page user's.
// An unknown name takes as long as a wrong password.
func (s *Store) CheckWebPassword(ctx context.Context, name, password string) (bool, error) {
	var hash string
	err := s.r.QueryRowContext(ctx, `SELECT hash FROM web_users WHERE name = ?`, name).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) {
		_ = bcrypt.CompareHashAndPassword([]byte(dummyHash), []byte(password))
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check web password: %w", err)
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil, nil
}

// AddSession records a session of user, by the hash of its id, valid until
// expires. Expired sessions are deleted on the way.
func (s *Store) AddSession(ctx context.Context, idHash, user string, expires time.Time) error {
	return s.inTx(ctx, "add session", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE expires <= ?`, time.Now().UnixNano()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO sessions (id, user, expires) VALUES (?, ?, ?)`, idHash, user, expires.UnixNano())
		return err
	})
}

// SessionUser returns the user of the session with this id hash, or ""
// when there is none or it expired before now.
func (s *Store) SessionUser(ctx context.Context, idHash string, now time.Time) (string, error) {
	var user string
	err := s.r.QueryRowContext(ctx, `SELECT user FROM sessions WHERE id = ? AND expires > ?`, idHash, now.UnixNano()).Scan(&user)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("session: %w", err)
	}
	return user, nil
}

// DeleteSession ends the session with this id hash (logging out).
func (s *Store) DeleteSession(ctx context.Context, idHash string) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, idHash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// AddToken records an API token of user by its id, the name people gave
// it and the hash of its secret.
func (s *Store) AddToken(ctx context.Context, id, name, user, hash string, created time.Time) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO tokens (id, name, user, hash, created) VALUES (?, ?, ?, ?, ?)`,
		id, name, user, hash, created.UnixNano())
	if err != nil {
		return fmt.Errorf("add token %q: %w", name, err)
	}
	return nil
}

// TokenUser returns the id and user of the valid (not revoked) token with
// this hash, or empty strings when there is none.
func (s *Store) TokenUser(ctx context.Context, hash string) (id, user string, err error) {
	err = s.r.QueryRowContext(ctx, `SELECT id, user FROM tokens WHERE hash = ? AND revoked = 0`, hash).Scan(&id, &user)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("token: %w", err)
	}
	return id, user, nil
}

// EachToken calls f for every token, revoked ones included (revoked is
// the zero time for a valid one), oldest first.
func (s *Store) EachToken(ctx context.Context, f func(id, name, user string, created, revoked time.Time)) error {
	rows, err := s.r.QueryContext(ctx, `SELECT id, name, user, created, revoked FROM tokens ORDER BY created, id`)
	if err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id, name, user   string
			created, revoked int64
		)
		if err := rows.Scan(&id, &name, &user, &created, &revoked); err != nil {
			return fmt.Errorf("tokens: %w", err)
		}
		var rv time.Time
		if revoked != 0 {
			rv = time.Unix(0, revoked)
		}
		f(id, name, user, time.Unix(0, created), rv)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	return nil
}

// RevokeToken revokes the token id at once; ErrNotFound when there is no
// such valid token.
func (s *Store) RevokeToken(ctx context.Context, id string, now time.Time) error {
	res, err := s.w.ExecContext(ctx, `UPDATE tokens SET revoked = ? WHERE id = ? AND revoked = 0`, now.UnixNano(), id)
	if err != nil {
		return fmt.Errorf("revoke token %q: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("revoke token %q: %w", id, ErrNotFound)
	}
	return nil
}
