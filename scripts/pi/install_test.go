package pi

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestInstall runs scripts/install into a temporary root (ROOT=...) with a
// stand-in for systemctl that records what it was asked to do.
func TestInstall(t *testing.T) {
	requireInstallable(t)
	root := newRoot(t)
	calls := filepath.Join(t.TempDir(), "systemctl.log")
	systemctl := recorder(t, calls)
	bin := filepath.Join(t.TempDir(), "hub-linux-test")
	writeFile(t, bin, "#!/bin/sh\necho hearth v1\n", 0o755)

	var uid, gid int
	t.Run("a first install puts the binary, user, data folder, config and unit in place and starts the service", func(t *testing.T) {
		runInstall(t, root, systemctl, bin)

		checkFile(t, root, "/usr/local/bin/hub", 0o755, 0, 0, "#!/bin/sh\necho hearth v1\n")
		uid, gid = hearthIDs(t, root)
		if uid <= 0 || uid >= 1000 || gid <= 0 {
			t.Fatalf("hearth has uid %d and gid %d, want a system user (0 < uid < 1000) with its own group", uid, gid)
		}
		checkDir(t, root, "/var/lib/hearth", 0o700, uid, gid)
		checkFile(t, root, "/etc/hearth/hub.yaml", 0o640, 0, gid, "")
		checkFile(t, root, "/etc/systemd/system/hearth.service", 0o644, 0, 0, "")
		checkCalls(t, calls, "daemon-reload", "enable hearth.service", "restart hearth.service")
	})

	t.Run("the unit runs the hub as hearth, restarts it on failure and locks it down", func(t *testing.T) {
		unit := readFile(t, filepath.Join(root, "/etc/systemd/system/hearth.service"))
		for _, line := range []string{
			"User=hearth",
			"Group=hearth",
			"WorkingDirectory=/var/lib/hearth",
			"ExecStart=/usr/local/bin/hub --config /etc/hearth/hub.yaml --data /var/lib/hearth",
			"Restart=on-failure",
			"LimitNOFILE=65536",
			"NoNewPrivileges=yes",
			"ProtectSystem=strict",
			"ReadWritePaths=/var/lib/hearth",
			"PrivateTmp=yes",
			"ProtectHome=yes",
			"CapabilityBoundingSet=",
			"AmbientCapabilities=",
			"WantedBy=multi-user.target",
		} {
			if !hasLine(unit, line) {
				t.Errorf("the unit has no line %q:\n%s", line, unit)
			}
		}
	})

	t.Run("the default config is commented and sets no data folder, which the unit's --data decides", func(t *testing.T) {
		conf := readFile(t, filepath.Join(root, "/etc/hearth/hub.yaml"))
		if !strings.HasPrefix(conf, "# ") {
			t.Errorf("hub.yaml does not start with a comment:\n%s", conf)
		}
		for line := range strings.Lines(conf) {
			if strings.HasPrefix(line, "data:") {
				t.Errorf("hub.yaml sets %q", strings.TrimSpace(line))
			}
		}
	})

	t.Run("systemd-analyze verify finds nothing wrong with the unit", func(t *testing.T) {
		verifyUnit(t, root)
	})

	t.Run("a second install changes nothing and keeps an edited config", func(t *testing.T) {
		conf := filepath.Join(root, "/etc/hearth/hub.yaml")
		edited := readFile(t, conf) + "# edited by the owner\n"
		writeFile(t, conf, edited, 0o640)
		passwd := readFile(t, filepath.Join(root, "/etc/passwd"))
		unit := readFile(t, filepath.Join(root, "/etc/systemd/system/hearth.service"))
		os.Remove(calls)

		runInstall(t, root, systemctl, bin)

		if got := readFile(t, conf); got != edited {
			t.Errorf("hub.yaml was rewritten:\n%s", got)
		}
		if got := readFile(t, filepath.Join(root, "/etc/passwd")); got != passwd {
			t.Errorf("/etc/passwd changed:\n%s\nwas:\n%s", got, passwd)
		}
		if got := readFile(t, filepath.Join(root, "/etc/systemd/system/hearth.service")); got != unit {
			t.Errorf("the unit changed")
		}
		checkDir(t, root, "/var/lib/hearth", 0o700, uid, gid)
		checkCalls(t, calls, "daemon-reload", "enable --now hearth.service")
	})

	t.Run("an install of a new binary replaces it and restarts the service", func(t *testing.T) {
		writeFile(t, bin, "#!/bin/sh\necho hearth v2\n", 0o755)
		os.Remove(calls)
		runInstall(t, root, systemctl, bin)
		checkFile(t, root, "/usr/local/bin/hub", 0o755, 0, 0, "#!/bin/sh\necho hearth v2\n")
		checkCalls(t, calls, "daemon-reload", "enable hearth.service", "restart hearth.service")
	})

	t.Run("uninstall removes the service and the binary and keeps the log, the config and the user", func(t *testing.T) {
		os.Remove(calls)
		runInstall(t, root, systemctl, "--uninstall")
		for _, gone := range []string{"/usr/local/bin/hub", "/etc/systemd/system/hearth.service"} {
			if _, err := os.Stat(filepath.Join(root, gone)); !os.IsNotExist(err) {
				t.Errorf("%s: %v, want it removed", gone, err)
			}
		}
		checkDir(t, root, "/var/lib/hearth", 0o700, uid, gid)
		checkFile(t, root, "/etc/hearth/hub.yaml", 0o640, 0, gid, "")
		if u, _ := hearthIDs(t, root); u != uid {
			t.Errorf("hearth's uid is %d after uninstall, want %d kept", u, uid)
		}
		checkCalls(t, calls, "disable --now hearth.service", "daemon-reload")
	})
}

// requireInstallable skips the test where scripts/install cannot run: it
// chowns files, so it needs root, and it adds the user with useradd.
func requireInstallable(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping scripts/install: it must run as root (it chowns the data folder)")
	}
	if _, err := exec.LookPath("useradd"); err != nil {
		t.Skip("skipping scripts/install: no useradd")
	}
}

// newRoot makes a folder to install into, with the account files useradd
// --prefix edits.
func newRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"passwd":  "root:x:0:0:root:/root:/bin/bash\n",
		"group":   "root:x:0:\n",
		"shadow":  "root:*:20000:0:99999:7:::\n",
		"gshadow": "root:*::\n",
	} {
		writeFile(t, filepath.Join(root, "etc", name), content, 0o644)
	}
	return root
}

// recorder writes a stand-in for systemctl that appends its arguments to log.
func recorder(t *testing.T, log string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "systemctl")
	writeFile(t, path, fmt.Sprintf("#!/bin/sh\necho \"$*\" >> %q\n", log), 0o755)
	return path
}

// runInstall runs scripts/install into root and returns its output.
func runInstall(t *testing.T, root, systemctl string, args ...string) string {
	t.Helper()
	cmd := exec.Command("bash", append([]string{filepath.Join("..", "install")}, args...)...)
	cmd.Env = append(os.Environ(), "ROOT="+root, "SYSTEMCTL="+systemctl)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ROOT=%s scripts/install %s: %v\n%s", root, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// hearthIDs returns the uid and gid of hearth in root's /etc/passwd, and
// checks that the user has no login shell and lives in the data folder.
func hearthIDs(t *testing.T, root string) (uid, gid int) {
	t.Helper()
	var found []string
	for line := range strings.Lines(readFile(t, filepath.Join(root, "etc/passwd"))) {
		if f := strings.Split(strings.TrimSpace(line), ":"); f[0] == "hearth" && len(f) == 7 {
			found = append(found, line)
			uid, _ = strconv.Atoi(f[2])
			gid, _ = strconv.Atoi(f[3])
			if f[5] != "/var/lib/hearth" || f[6] != "/usr/sbin/nologin" {
				t.Errorf("hearth's home %q and shell %q, want /var/lib/hearth and /usr/sbin/nologin", f[5], f[6])
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d hearth users in /etc/passwd, want 1: %q", len(found), found)
	}
	return uid, gid
}

// verifyUnit runs systemd-analyze verify on the installed unit. It needs the
// units the hub's unit refers to (multi-user.target, ...) under root; they
// are linked from this machine. Parse errors are warnings to systemd, so
// every line about hearth.service fails the test.
func verifyUnit(t *testing.T, root string) {
	t.Helper()
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("no systemd-analyze on this machine")
	}
	for _, dir := range []string{"/usr/lib/systemd", "/lib/systemd"} {
		if _, err := os.Stat(filepath.Join(dir, "system", "multi-user.target")); err == nil {
			link := filepath.Join(root, "usr/lib/systemd")
			if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(dir, link); err != nil && !os.IsExist(err) {
				t.Fatal(err)
			}
			break
		}
	}
	out, err := exec.Command("systemd-analyze", "verify", "--man=no", "--root="+root, "/etc/systemd/system/hearth.service").CombinedOutput()
	var complaints []string
	for line := range strings.Lines(string(out)) {
		if strings.Contains(line, "hearth.service") {
			complaints = append(complaints, strings.TrimSpace(line))
		}
	}
	if err != nil || len(complaints) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, strings.Join(complaints, "\n"))
	}
}

func checkCalls(t *testing.T, log string, want ...string) {
	t.Helper()
	if got := strings.TrimSpace(readFile(t, log)); got != strings.Join(want, "\n") {
		t.Errorf("systemctl was called with:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

// checkFile checks a file's mode, owner and, unless content is empty, content.
func checkFile(t *testing.T, root, path string, mode fs.FileMode, uid, gid int, content string) {
	t.Helper()
	checkMode(t, root, path, mode, uid, gid)
	if content != "" {
		if got := readFile(t, filepath.Join(root, path)); got != content {
			t.Errorf("%s holds %q, want %q", path, got, content)
		}
	}
}

// checkDir checks that path is a folder with this mode and owner.
func checkDir(t *testing.T, root, path string, mode fs.FileMode, uid, gid int) {
	t.Helper()
	checkMode(t, root, path, fs.ModeDir|mode, uid, gid)
}

func checkMode(t *testing.T, root, path string, mode fs.FileMode, uid, gid int) {
	t.Helper()
	fi, err := os.Stat(filepath.Join(root, path))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode() != mode || int(st.Uid) != uid || int(st.Gid) != gid {
		t.Errorf("%s: mode %v owner %d:%d, want %v %d:%d", path, fi.Mode(), st.Uid, st.Gid, mode, uid, gid)
	}
}

func hasLine(text, line string) bool {
	for l := range strings.Lines(text) {
		if strings.TrimSpace(l) == line {
			return true
		}
	}
	return false
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, path, content string, mode fs.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}
