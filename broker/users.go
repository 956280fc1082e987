package broker

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
	"golang.org/x/crypto/bcrypt"
)

// The users file (YAML) says who may connect to the embedded broker and
// what each may do:
//
//	users:
//	  - name: hall_motion
//	    hash: $2a$10$...            # bcrypt; `hub user add` and `hub user passwd` write it
//	    acl:
//	      - {pattern: home/%u, access: write}
//	      - {pattern: home/%u/#, access: readwrite}
//	  - name: dashboard
//	    hash: $2a$10$...
//	    acl:
//	      - {pattern: home/#, access: read}
//	clients:                        # rules by client id, for whoever connects with it
//	  - id: wall_panel
//	    acl:
//	      - {pattern: home/+/set, access: write}
//	patterns:                       # rules for every client
//	  - {pattern: home/%c/availability, access: write}
//	anonymous:                      # rules for clients without a user name, where they are let in
//	  - {pattern: home/#, access: read}
//
// A client may do what any rule that applies to it allows, unless a rule that
// applies to it denies: its user's rules, the rules of its client id, the
// patterns, and for a client without a user name the anonymous rules. As
// long as there are no anonymous rules, a client let in without a user name
// may do everything (as when there is no users file at all); once there are,
// it may do what the rules say ({pattern: "#", access: deny} shuts it out).

// UsersFile is the content of the users file.
type UsersFile struct {
	Users     []User        `yaml:"users"`
	Clients   []ClientRules `yaml:"clients,omitempty"`
	Patterns  []Rule        `yaml:"patterns,omitempty"`
	Anonymous []Rule        `yaml:"anonymous,omitempty"`
}

// User is one user of the broker: a name, the bcrypt hash of its password
// and the rules of what it may do.
type User struct {
	Name string `yaml:"name"`
	Hash string `yaml:"hash"`
	ACL  []Rule `yaml:"acl,omitempty"`
}

// ClientRules are the rules for the connections that use one client id.
// A client id is not a secret: a rule here is granted to whoever connects
// with that id, so give a device its own user when what it may do matters.
type ClientRules struct {
	ID  string `yaml:"id"`
	ACL []Rule `yaml:"acl"`
}

// Limits on passwords: bcrypt reads at most 72 bytes.
const (
	minPassword = 8
	maxPassword = 72
)

// ReadUsersFile reads and checks a users file. A file that does not exist
// reads as no users and no rules; the error then wraps os.ErrNotExist.
func ReadUsersFile(path string) (*UsersFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return &UsersFile{}, fmt.Errorf("users file: %w", err)
	}
	return parseUsers(path, data)
}

// parseUsers decodes a users file strictly and checks it, collecting every
// mistake with its line.
func parseUsers(path string, data []byte) (*UsersFile, error) {
	uf := &UsersFile{}
	if len(bytes.TrimSpace(data)) == 0 {
		return uf, nil
	}
	if err := yaml.UnmarshalWithOptions(data, uf, yaml.Strict(), yaml.DisallowUnknownField()); err != nil {
		return nil, fmt.Errorf("users file %s", yamlPosition(path, err))
	}
	if err := uf.check(); err != nil {
		return nil, fmt.Errorf("users file %s: %w", path, err)
	}
	return uf, nil
}

// yamlPosition writes a YAML error as path:line:col: message.
func yamlPosition(path string, err error) string {
	var pe interface {
		GetToken() *token.Token
		GetMessage() string
	}
	if errors.As(err, &pe) && pe.GetToken() != nil {
		p := pe.GetToken().Position
		return fmt.Sprintf("%s:%d:%d: %s", path, p.Line, p.Column, pe.GetMessage())
	}
	return fmt.Sprintf("%s: %v", path, err)
}

// check reports every mistake: names, hashes, rules, duplicates.
func (uf *UsersFile) check() error {
	var errs []error
	seen := map[string]bool{}
	for i, u := range uf.Users {
		if err := checkName(u.Name); err != nil {
			errs = append(errs, fmt.Errorf("users[%d]: %w", i, err))
		} else if seen[u.Name] {
			errs = append(errs, fmt.Errorf("users[%d]: user %q appears twice", i, u.Name))
		}
		seen[u.Name] = true
		if _, err := bcrypt.Cost([]byte(u.Hash)); err != nil {
			errs = append(errs, fmt.Errorf("user %q: hash is not a bcrypt hash (set it with `hub user passwd`)", u.Name))
		}
		if _, err := compileACL(u.ACL); err != nil {
			errs = append(errs, fmt.Errorf("user %q: %w", u.Name, err))
		}
	}
	ids := map[string]bool{}
	for i, c := range uf.Clients {
		if c.ID == "" || ids[c.ID] {
			errs = append(errs, fmt.Errorf("clients[%d]: want a client id that appears once, got %q", i, c.ID))
		}
		ids[c.ID] = true
		if _, err := compileACL(c.ACL); err != nil {
			errs = append(errs, fmt.Errorf("client %q: %w", c.ID, err))
		}
	}
	if _, err := compileACL(uf.Patterns); err != nil {
		errs = append(errs, fmt.Errorf("patterns: %w", err))
	}
	if _, err := compileACL(uf.Anonymous); err != nil {
		errs = append(errs, fmt.Errorf("anonymous: %w", err))
	}
	return errors.Join(errs...)
}

// checkName refuses a user name that could not stand for a topic level
// (rules substitute it for %u) or would garble a log line.
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("a user needs a name")
	case len(name) > 256 || !utf8.ValidString(name):
		return fmt.Errorf("user name %q: want at most 256 bytes of UTF-8", name)
	case strings.ContainsAny(name, "/+#") || strings.IndexFunc(name, unicode.IsControl) >= 0 ||
		strings.IndexFunc(name, unicode.IsSpace) >= 0:
		return fmt.Errorf("user name %q: no spaces, control characters, \"/\", \"+\" or \"#\"", name)
	}
	return nil
}

func checkPassword(password string) error {
	switch {
	case len(password) < minPassword:
		return fmt.Errorf("password: want at least %d characters", minPassword)
	case len(password) > maxPassword:
		return fmt.Errorf("password: want at most %d bytes (bcrypt reads no further)", maxPassword)
	}
	return nil
}

// hashPassword returns the bcrypt hash of password.
func hashPassword(password string) (string, error) {
	if err := checkPassword(password); err != nil {
		return "", err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// AddUser adds a user to the users file at path, creating the file (0600)
// and its folder (0700) if there are none. The password is stored as a bcrypt hash. With no rules,
// the user may read and write every topic ("#", which leaves out $SYS);
// the rules are written to the file either way, where they can be edited.
func AddUser(path, name, password string, rules ...Rule) error {
	if err := checkName(name); err != nil {
		return err
	}
	if len(rules) == 0 {
		rules = []Rule{{Pattern: "#", Access: AccessReadWrite}}
	}
	if _, err := compileACL(rules); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("users file: %w", err)
	}
	uf, data, err := readForEdit(path)
	if err != nil {
		return err
	}
	if uf.find(name) >= 0 {
		return fmt.Errorf("user %q exists already (change its password with `hub user passwd`)", name)
	}
	hash, err := hashPassword(password)
	if err != nil {
		return err
	}
	u := User{Name: name, Hash: hash, ACL: rules}
	uf.Users = append(uf.Users, u)
	entry, err := yaml.MarshalWithOptions([]User{u}, yaml.IndentSequence(true))
	if err != nil {
		return fmt.Errorf("add user %q: %w", name, err)
	}
	return editUsers(path, data, uf, func(f *ast.File) error {
		if len(uf.Users) == 1 {
			return errNoEdit // no users sequence to append to: write the file anew
		}
		return mustPath("$.users").MergeFromReader(f, bytes.NewReader(entry))
	})
}

// RemoveUser removes a user from the users file at path.
func RemoveUser(path, name string) error {
	uf, data, err := readForEdit(path)
	if err != nil {
		return err
	}
	i := uf.find(name)
	if i < 0 {
		return fmt.Errorf("user %q: no such user in %s", name, path)
	}
	uf.Users = append(uf.Users[:i], uf.Users[i+1:]...)
	return editUsers(path, data, uf, func(f *ast.File) error {
		n, err := mustPath("$.users").FilterFile(f)
		if err != nil {
			return err
		}
		seq, ok := n.(*ast.SequenceNode)
		if !ok || len(seq.Values) <= i {
			return errNoEdit
		}
		seq.Values = append(seq.Values[:i], seq.Values[i+1:]...)
		if len(seq.ValueHeadComments) > i {
			seq.ValueHeadComments = append(seq.ValueHeadComments[:i], seq.ValueHeadComments[i+1:]...)
		}
		if len(seq.Entries) > i {
			seq.Entries = append(seq.Entries[:i], seq.Entries[i+1:]...)
		}
		if len(seq.Values) == 0 {
			return errNoEdit // an empty block sequence does not print as one
		}
		return nil
	})
}

// SetPassword changes a user's password in the users file at path.
func SetPassword(path, name, password string) error {
	uf, data, err := readForEdit(path)
	if err != nil {
		return err
	}
	i := uf.find(name)
	if i < 0 {
		return fmt.Errorf("user %q: no such user in %s", name, path)
	}
	hash, err := hashPassword(password)
	if err != nil {
		return err
	}
	uf.Users[i].Hash = hash
	return editUsers(path, data, uf, func(f *ast.File) error {
		return mustPath(fmt.Sprintf("$.users[%d].hash", i)).ReplaceWithReader(f, strings.NewReader(`"`+hash+`"`))
	})
}

// UserNames lists the users of the users file at path, for `hub user list`.
func UserNames(path string) ([]string, error) {
	uf, err := ReadUsersFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	names := make([]string, 0, len(uf.Users))
	for _, u := range uf.Users {
		names = append(names, u.Name)
	}
	return names, nil
}

func (uf *UsersFile) find(name string) int {
	for i, u := range uf.Users {
		if u.Name == name {
			return i
		}
	}
	return -1
}

// readForEdit reads the users file and its bytes; a missing file is empty.
func readForEdit(path string) (*UsersFile, []byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &UsersFile{}, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("users file: %w", err)
	}
	uf, err := parseUsers(path, data)
	if err != nil {
		return nil, nil, err
	}
	return uf, data, nil
}

// errNoEdit says an edit in place does not apply: the file is written anew.
var errNoEdit = errors.New("no edit in place")

// editUsers writes the users file after a change. It edits the YAML in
// place (edit changes the parsed file) so that the comments and layout the
// owner wrote by hand survive, and checks that the result reads back as
// want; when that fails, it writes want anew (comments are then lost).
func editUsers(path string, data []byte, want *UsersFile, edit func(*ast.File) error) error {
	out, ok := editInPlace(path, data, want, edit)
	if !ok {
		var err error
		if out, err = yaml.MarshalWithOptions(want, yaml.IndentSequence(true)); err != nil {
			return fmt.Errorf("users file: %w", err)
		}
		out = append([]byte(usersHeader), out...)
	}
	return writeFileAtomic(path, out, 0o600)
}

const usersHeader = "# Hearth broker users and what they may do (docs/security.md).\n" +
	"# `hub user add|remove|passwd` edit this file; hashes are bcrypt.\n"

func editInPlace(path string, data []byte, want *UsersFile, edit func(*ast.File) error) ([]byte, bool) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, false
	}
	f, err := parser.ParseBytes(data, parser.ParseComments)
	if err != nil {
		return nil, false
	}
	if err := edit(f); err != nil {
		return nil, false
	}
	out := []byte(f.String())
	if !bytes.HasSuffix(out, []byte("\n")) {
		out = append(out, '\n')
	}
	got, err := parseUsers(path, out)
	if err != nil || !sameUsers(got, want) {
		return nil, false
	}
	return out, true
}

// sameUsers compares what two users files say.
func sameUsers(a, b *UsersFile) bool {
	ya, err1 := yaml.Marshal(a)
	yb, err2 := yaml.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ya, yb)
}

func mustPath(s string) *yaml.Path {
	p, err := yaml.PathString(s)
	if err != nil {
		panic(fmt.Sprintf("broker: bad YAML path %q: %v", s, err)) // a constant of this file
	}
	return p
}

// writeFileAtomic replaces path with data: a reader sees the old file or the
// new one, never a part. The file gets perm (the users file: 0600, it holds
// password hashes) and reaches the disk before it replaces the old one.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if os.Geteuid() == 0 {
		// `sudo hub user add`: the file keeps the owner of the one it
		// replaces (unless that is root), or else of its folder, so that the hub's service user
		// still reads it; a file of root's it could not open, and the hub
		// would not start.
		uid, gid, ok := ownerOf(path)
		if fuid, fgid, fok := ownerOf(dir); fok && (!ok || uid == 0) {
			uid, gid, ok = fuid, fgid, true // a file root made by mistake goes back to the folder's owner
		}
		if ok {
			if err = tmp.Chown(uid, gid); err != nil {
				return fmt.Errorf("write %s: %w", path, err)
			}
		}
	}
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync() // the rename itself reaches the disk
		_ = d.Close()
	}
	return nil
}

// ownerOf returns the user and group owning the file at path.
func ownerOf(path string) (uid, gid int, ok bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, 0, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return int(st.Uid), int(st.Gid), true
}
