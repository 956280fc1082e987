package broker

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// checkPasswordIn reports whether the users file at path holds a user
// whose hash the password matches.
func checkPasswordIn(t *testing.T, path, name, password string) bool {
	t.Helper()
	uf, err := ReadUsersFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	i := uf.find(name)
	if i < 0 {
		t.Fatalf("user %q not in %s", name, path)
	}
	return bcrypt.CompareHashAndPassword([]byte(uf.Users[i].Hash), []byte(password)) == nil
}

func TestUserCommands(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.yaml")

	t.Run("adding the first user creates the file, private, with a hash and not the password", func(t *testing.T) {
		if err := AddUser(path, "hall_motion", "first-secret", Rule{Pattern: "home/%u/#", Access: AccessReadWrite}); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("users file mode %v, want 0600", fi.Mode().Perm())
		}
		data, _ := os.ReadFile(path)
		if strings.Contains(string(data), "first-secret") {
			t.Fatalf("the password is in the file:\n%s", data)
		}
		if !checkPasswordIn(t, path, "hall_motion", "first-secret") {
			t.Fatalf("the stored hash does not take the password:\n%s", data)
		}
	})

	// The owner edits the file by hand: comments and rules must survive
	// the commands.
	data, _ := os.ReadFile(path)
	edited := "# my house\n" + strings.Replace(string(data), "users:\n", "users:\n  # the hall sensor\n", 1) +
		"patterns:\n  - {pattern: \"home/%c/availability\", access: write} # every device says if it is online\n"
	if err := os.WriteFile(path, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("adding a user without rules gives it every topic, written out", func(t *testing.T) {
		if err := AddUser(path, "dashboard", "second-secret"); err != nil {
			t.Fatal(err)
		}
		uf, err := ReadUsersFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if i := uf.find("dashboard"); i < 0 || len(uf.Users[i].ACL) != 1 || uf.Users[i].ACL[0].String() != "readwrite:#" {
			t.Fatalf("users %+v: want dashboard with readwrite:#", uf.Users)
		}
	})

	t.Run("changing a password replaces the hash only", func(t *testing.T) {
		if err := SetPassword(path, "hall_motion", "third-secret"); err != nil {
			t.Fatal(err)
		}
		if checkPasswordIn(t, path, "hall_motion", "first-secret") || !checkPasswordIn(t, path, "hall_motion", "third-secret") {
			t.Fatal("the new password does not replace the old one")
		}
		if !checkPasswordIn(t, path, "dashboard", "second-secret") {
			t.Fatal("another user's password changed")
		}
	})

	t.Run("removing a user leaves the others", func(t *testing.T) {
		if err := RemoveUser(path, "hall_motion"); err != nil {
			t.Fatal(err)
		}
		names, err := UserNames(path)
		if err != nil || len(names) != 1 || names[0] != "dashboard" {
			t.Fatalf("users %v, %v; want [dashboard]", names, err)
		}
	})

	t.Run("the owner's comments and rules survive the commands", func(t *testing.T) {
		data, _ := os.ReadFile(path)
		for _, want := range []string{"# my house", "# every device says if it is online", "home/%c/availability"} {
			if !strings.Contains(string(data), want) {
				t.Errorf("%q lost:\n%s", want, data)
			}
		}
		if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
			t.Errorf("users file mode %v after edits, want 0600", fi.Mode().Perm())
		}
	})

	for _, tc := range []struct {
		name string
		do   func() error
		want string
	}{
		{"adding a user twice is refused", func() error { return AddUser(path, "dashboard", "long-enough") }, "exists already"},
		{"a short password is refused", func() error { return AddUser(path, "x", "short") }, "at least 8"},
		{"a password bcrypt would cut is refused", func() error { return AddUser(path, "x", strings.Repeat("p", 73)) }, "at most 72"},
		{"a user name that cannot stand for a topic level is refused", func() error { return AddUser(path, "a/b", "long-enough") }, "user name"},
		{"a bad rule is refused", func() error { return AddUser(path, "x", "long-enough", Rule{Pattern: "a/#/b", Access: AccessRead}) }, "not a topic filter"},
		{"removing a user who is not there is refused", func() error { return RemoveUser(path, "nobody") }, "no such user"},
		{"changing the password of a user who is not there is refused", func() error { return SetPassword(path, "nobody", "long-enough") }, "no such user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

func TestReadUsersFile(t *testing.T) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("password"), bcrypt.MinCost)
	for _, tc := range []struct {
		name, file, want string
	}{
		{"an unknown key is refused with its line", "users:\n  - name: a\n    hash: \"" + string(hash) + "\"\n    passwd: x\n", "users.yaml:4:"},
		{"a hash that is not bcrypt is refused", "users:\n  - name: a\n    hash: plain\n", "not a bcrypt hash"},
		{"a user named twice is refused", "users:\n  - {name: a, hash: \"" + string(hash) + "\"}\n  - {name: a, hash: \"" + string(hash) + "\"}\n", "appears twice"},
		{"a bad pattern is refused", "patterns:\n  - {pattern: \"a/#/b\", access: read}\n", "not a topic filter"},
		{"a bad access is refused", "anonymous:\n  - {pattern: \"a\", access: all}\n", "want read, write, readwrite or deny"},
		{"a client rule without an id is refused", "clients:\n  - acl: []\n", "client id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "users.yaml", []byte(tc.file))
			_, err := ReadUsersFile(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
		})
	}

	t.Run("a file that does not exist reads as no users", func(t *testing.T) {
		uf, err := ReadUsersFile(filepath.Join(t.TempDir(), "none.yaml"))
		if !errors.Is(err, os.ErrNotExist) || len(uf.Users) != 0 {
			t.Fatalf("got %+v, %v; want no users and an error wrapping ErrNotExist", uf, err)
		}
	})
}

// TestAUsersFileWrittenAsRootKeepsItsOwner runs what `sudo hub user add`
// does on the data folder of a hub run as its own user: the file stays that
// user's, for the hub to read at its next start. As root it used to become
// root's, mode 0600, and the hub could not start.
func TestAUsersFileWrittenAsRootKeepsItsOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, as `sudo hub user add` runs")
	}
	const hubUID, hubGID = 4242, 4343 // the service's user and group
	dir := t.TempDir()
	if err := os.Chown(dir, hubUID, hubGID); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "users.yaml")
	// A file root wrote before, as the hub did until it kept owners.
	if err := os.WriteFile(path, []byte("users: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"lamp", "door"} { // root's file is replaced, then the hub's
		if err := AddUser(path, name, "a long enough password"); err != nil {
			t.Fatal(err)
		}
		uid, gid, _ := ownerOf(path)
		if uid != hubUID || gid != hubGID {
			t.Fatalf("after adding %s the file belongs to %d:%d, want the folder's %d:%d", name, uid, gid, hubUID, hubGID)
		}
	}
}
