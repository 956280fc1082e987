package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/term"

	"hearth/broker"
	"hearth/store"
)

// userCommand runs `hub user add|remove|passwd|list`: it edits the broker's
// users file. Passwords are read from standard input (one line), never from
// the command line, where other users of the machine could see them.
func userCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	usage := "usage: hub user add NAME [--acl ACCESS:PATTERN]... | remove NAME | passwd NAME | list   [--users FILE | --data DIR] [--web]"
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	verb := args[0]
	fs := flag.NewFlagSet("hub user "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	users := fs.String("users", "", "the users `file` (<data>/users.yaml when empty)")
	data := fs.String("data", "./data", "the hub's data `folder`")
	webUser := fs.Bool("web", false, "manage the people who log in to the page (kept in <data>/hearth.db) instead of the broker's users")
	var acls []string
	fs.Func("acl", "a rule `access:pattern` (read, write, readwrite or deny; %u is the user, %c the client id); repeat for more", func(s string) error {
		acls = append(acls, s)
		return nil
	})
	rest := args[1:]
	name := ""
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		name, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	path := *users
	if path == "" {
		path = filepath.Join(*data, "users.yaml")
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "hub user %s: %v\n", verb, err)
		return 1
	}
	if verb != "list" && name == "" {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	if *webUser {
		if len(acls) > 0 || *users != "" {
			fmt.Fprintln(stderr, "hub user: --acl and --users are for broker users, not with --web")
			return 2
		}
		return webUserCommand(verb, name, filepath.Join(*data, "hearth.db"), stdin, stdout, stderr, usage)
	}
	switch verb {
	case "add", "passwd":
		var rules []broker.Rule
		for _, s := range acls {
			r, err := broker.ParseRule(s)
			if err != nil {
				fmt.Fprintf(stderr, "hub user %s: --acl %q: %v\n", verb, s, err)
				return 2
			}
			rules = append(rules, r)
		}
		password, err := readPassword(stdin, stderr, name)
		if err != nil {
			return fail(err)
		}
		if verb == "add" {
			err = broker.AddUser(path, name, password, rules...)
		} else {
			err = broker.SetPassword(path, name, password)
		}
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "%s: user %s saved; the running hub picks it up at the next connection\n", path, name)
	case "remove":
		if err := broker.RemoveUser(path, name); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "%s: user %s removed; their connections are closed\n", path, name)
	case "list":
		names, err := broker.UserNames(path)
		if err != nil {
			return fail(err)
		}
		for _, n := range names {
			fmt.Fprintln(stdout, n)
		}
	default:
		fmt.Fprintln(stderr, usage)
		return 2
	}
	return 0
}

// webUserCommand runs `hub user ... --web` on the page users kept in the
// database at path; the running hub sees the change at the next request.
func webUserCommand(verb, name, path string, stdin io.Reader, stdout, stderr io.Writer, usage string) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "hub user %s --web: %v\n", verb, err)
		return 1
	}
	ctx := context.Background()
	var password string
	if verb == "add" || verb == "passwd" {
		var err error
		if password, err = readPassword(stdin, stderr, name); err != nil {
			return fail(err)
		}
	}
	st, err := store.Open(path, nil)
	if err != nil {
		return fail(err)
	}
	defer st.Close()
	switch verb {
	case "add":
		err = st.AddWebUser(ctx, name, password)
	case "passwd":
		err = st.SetWebPassword(ctx, name, password)
	case "remove":
		err = st.RemoveWebUser(ctx, name)
	case "list":
		var names []string
		if names, err = st.WebUserNames(ctx); err == nil {
			for _, n := range names {
				fmt.Fprintln(stdout, n)
			}
		}
		if err != nil {
			return fail(err)
		}
		return 0
	default:
		fmt.Fprintln(stderr, usage)
		return 2
	}
	if err != nil {
		return fail(err)
	}
	switch verb {
	case "remove":
		fmt.Fprintf(stdout, "page user %s removed, with their sessions and tokens\n", name)
	case "passwd":
		fmt.Fprintf(stdout, "page user %s saved; their sessions are ended\n", name)
	default:
		fmt.Fprintf(stdout, "page user %s saved; they can log in now\n", name)
	}
	return 0
}

// readPassword reads the password: from a terminal without showing it,
// twice, so that a typo cannot set a password nobody knows; else the first
// line of in, as a script pipes it.
func readPassword(in io.Reader, prompt io.Writer, name string) (string, error) {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		// Ctrl-C while the typing does not show would leave the shell
		// that way: put the terminal back before going.
		if old, err := term.GetState(int(f.Fd())); err == nil {
			interrupted := make(chan os.Signal, 1)
			done := make(chan struct{})
			signal.Notify(interrupted, os.Interrupt, syscall.SIGTERM)
			defer func() { signal.Stop(interrupted); close(done) }()
			go func() {
				select {
				case <-interrupted:
					_ = term.Restore(int(f.Fd()), old)
					fmt.Fprintln(prompt)
					os.Exit(130)
				case <-done:
				}
			}()
		}
		ask := func(what string) (string, error) {
			fmt.Fprintf(prompt, "%s for %s: ", what, name)
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(prompt)
			if err != nil {
				return "", fmt.Errorf("read the password: %w", err)
			}
			return string(b), nil
		}
		first, err := ask("password")
		if err != nil {
			return "", err
		}
		again, err := ask("the same password again")
		if err != nil {
			return "", err
		}
		if first != again {
			return "", errors.New("the two passwords differ; nothing was changed")
		}
		return first, nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", fmt.Errorf("read the password from standard input: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}
