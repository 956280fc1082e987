package broker

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/goccy/go-yaml"
	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/crypto/bcrypt"
)

// pw is the password of a test user.
func pw(name string) string { return name + "-password" }

// testUser makes a user whose password is pw(name), hashed at bcrypt's
// lowest cost so that tests stay quick (the cost is in the hash; the
// commands use the default).
func testUser(t *testing.T, name string, rules ...string) User {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw(name)), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	u := User{Name: name, Hash: string(h)}
	for _, s := range rules {
		r, err := ParseRule(s)
		if err != nil {
			t.Fatal(err)
		}
		u.ACL = append(u.ACL, r)
	}
	return u
}

// writeUsers writes a users file and returns its path.
func writeUsers(t *testing.T, uf UsersFile) string {
	t.Helper()
	data, err := yaml.Marshal(uf)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "users.yaml", data)
}

// beyondLoopback makes the broker take every address for a remote one, as
// if the clients of the test connected over the network.
func beyondLoopback(b *Broker) { b.loopback = func(netip.Addr) bool { return false } }

// dialPaho connects an MQTT 3.1.1 paho client to url and returns it, or the
// error the connection ended with.
func dialPaho(t *testing.T, url, id string, mods ...func(*paho.ClientOptions)) (paho.Client, error) {
	t.Helper()
	opts := paho.NewClientOptions().
		AddBroker(url).
		SetClientID(id).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetCleanSession(true).
		SetConnectTimeout(wait)
	for _, m := range mods {
		m(opts)
	}
	c := paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(wait) {
		t.Fatalf("paho %s: no answer to CONNECT within %v", id, wait)
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c, nil
}

// as logs a paho client in as a test user.
func as(user string) func(*paho.ClientOptions) {
	return func(o *paho.ClientOptions) { o.SetUsername(user).SetPassword(pw(user)) }
}

// mustDial connects or fails the test.
func mustDial(t *testing.T, url, id string, mods ...func(*paho.ClientOptions)) paho.Client {
	t.Helper()
	c, err := dialPaho(t, url, id, mods...)
	if err != nil {
		t.Fatalf("connect %s to %s: %v", id, url, err)
	}
	return c
}

// collect subscribes c to filter and returns the messages it receives.
func collect(t *testing.T, c paho.Client, filter string) <-chan paho.Message {
	t.Helper()
	ch := make(chan paho.Message, 100)
	tok := c.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) { ch <- m })
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	if code := tok.(*paho.SubscribeToken).Result()[filter]; code > 2 {
		t.Fatalf("subscribe %s: refused with %#x", filter, code)
	}
	return ch
}

// nextMessage returns the next message received.
func nextMessage(t *testing.T, ch <-chan paho.Message) paho.Message {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(wait):
		t.Fatalf("no message within %v", wait)
		return nil
	}
}

// connectAs sends a CONNECT with a user name and password on a raw client.
func (r *raw) connectAs(version byte, id, user, password string) packets.Packet {
	r.t.Helper()
	r.version = version
	pk := connectPacket(version, id, 30)
	pk.Connect.UsernameFlag, pk.Connect.Username = true, []byte(user)
	pk.Connect.PasswordFlag, pk.Connect.Password = true, []byte(password)
	r.send(pk)
	ack, err := r.read()
	if err != nil || ack.FixedHeader.Type != packets.Connack {
		r.t.Fatalf("connect %s: %+v, %v", id, ack.FixedHeader, err)
	}
	return ack
}

func TestAnonymous(t *testing.T) {
	t.Run("with no users, a client on this machine connects without a user", func(t *testing.T) {
		h := startHub(t, Config{}, true)
		mustDial(t, "tcp://"+h.addr, "local")
	})

	t.Run("with no users, a client from beyond this machine is refused and logged", func(t *testing.T) {
		h := startHubWith(t, Config{}, true, beyondLoopback)
		if _, err := dialPaho(t, "tcp://"+h.addr, "remote"); err == nil {
			t.Fatal("an anonymous client from the network was let in")
		}
		if logs := h.logs.String(); !strings.Contains(logs, "refusing client: no users configured") ||
			!strings.Contains(logs, "client=remote") {
			t.Fatalf("want a warning naming the client and why; logs:\n%s", logs)
		}
	})

	t.Run("allow_anonymous lets it in, with a warning at start", func(t *testing.T) {
		h := startHubWith(t, Config{AllowAnonymous: true}, true, beyondLoopback)
		mustDial(t, "tcp://"+h.addr, "remote")
		if !strings.Contains(h.logs.String(), "level=WARN msg=\"allow_anonymous is on") {
			t.Fatalf("no warning about allow_anonymous at start; logs:\n%s", h.logs.String())
		}
	})

	t.Run("with users, a client without a user name is refused even on this machine", func(t *testing.T) {
		file := writeUsers(t, UsersFile{Users: []User{testUser(t, "lamp", "readwrite:#")}})
		h := startHub(t, Config{UsersFile: file}, true)
		if _, err := dialPaho(t, "tcp://"+h.addr, "local"); err == nil {
			t.Fatal("an anonymous client was let in although the broker has users")
		}
	})

	t.Run("a user name sent while there are no users is ignored, not trusted", func(t *testing.T) {
		h := startHub(t, Config{UsersFile: writeUsers(t, UsersFile{
			Anonymous: []Rule{{Pattern: "home/%u", Access: AccessWrite}, {Pattern: "home/anon", Access: AccessWrite}},
		})}, true)
		r := newReader(t, h.bus)
		c := mustDial(t, "tcp://"+h.addr, "claims-admin", func(o *paho.ClientOptions) { o.SetUsername("admin").SetPassword("whatever") })
		publish(t, c, "home/admin", 0, []byte("as admin")) // %u is empty for it: not allowed
		publish(t, c, "home/anon", 1, []byte("marker"))
		if ev := r.next(); ev.Topic != "home/anon" {
			t.Fatalf("got %s first; a claimed user name was trusted", ev.Topic)
		}
	})
}

func TestPasswords(t *testing.T) {
	file := writeUsers(t, UsersFile{Users: []User{testUser(t, "lamp", "readwrite:#")}})
	h := startHubWith(t, Config{UsersFile: file}, true, beyondLoopback)
	url := "tcp://" + h.addr

	t.Run("the right password is accepted", func(t *testing.T) {
		mustDial(t, url, "lamp-1", as("lamp"))
	})
	t.Run("a wrong password is refused", func(t *testing.T) {
		_, err := dialPaho(t, url, "lamp-2", func(o *paho.ClientOptions) { o.SetUsername("lamp").SetPassword("guess-guess") })
		if err == nil {
			t.Fatal("a wrong password was accepted")
		}
	})
	t.Run("an unknown user is refused", func(t *testing.T) {
		if _, err := dialPaho(t, url, "who", as("nobody")); err == nil {
			t.Fatal("an unknown user was accepted")
		}
	})
	t.Run("an MQTT 5 client is told bad user name or password", func(t *testing.T) {
		c := dialRaw(t, h.addr)
		if ack := c.connectAs(5, "v5", "lamp", "guess-guess"); ack.ReasonCode != packets.ErrBadUsernameOrPassword.Code {
			t.Fatalf("CONNACK code %#x, want %#x", ack.ReasonCode, packets.ErrBadUsernameOrPassword.Code)
		}
		c.expectClosed()
	})
	t.Run("no password reaches the log", func(t *testing.T) {
		logs := h.logs.String()
		if strings.Contains(logs, "guess-guess") || strings.Contains(logs, pw("lamp")) || strings.Contains(logs, "$2a$") {
			t.Fatalf("a secret is in the logs:\n%s", logs)
		}
		if !strings.Contains(logs, "refusing client: wrong user name or password") {
			t.Fatalf("no line says a login failed:\n%s", logs)
		}
	})
	t.Run("a client id in use by another user is refused, and its client stays connected", func(t *testing.T) {
		file := writeUsers(t, UsersFile{Users: []User{testUser(t, "lamp", "readwrite:#"), testUser(t, "other", "readwrite:#")}})
		h := startHub(t, Config{UsersFile: file}, true)
		lamp := mustDial(t, "tcp://"+h.addr, "lamp-1", as("lamp"))
		if _, err := dialPaho(t, "tcp://"+h.addr, "lamp-1", as("other")); err == nil {
			t.Fatal("another user took over the session")
		}
		publish(t, lamp, "home/lamp-1", 1, []byte("on")) // a refused client takes nothing over (takeover.go)
	})
	t.Run("a user added to the file while the broker runs can connect", func(t *testing.T) {
		dir := t.TempDir()
		file := filepath.Join(dir, "users.yaml")
		h := startHubWith(t, Config{UsersFile: file}, true, beyondLoopback)
		if _, err := dialPaho(t, "tcp://"+h.addr, "late-1", func(o *paho.ClientOptions) { o.SetUsername("late").SetPassword(pw("late")) }); err == nil {
			t.Fatal("connected before the user existed")
		}
		if err := AddUser(file, "late", pw("late")); err != nil {
			t.Fatal(err)
		}
		dropped, onLost := lost()
		mustDial(t, "tcp://"+h.addr, "late-1", as("late"), onLost)
		if err := RemoveUser(file, "late"); err != nil {
			t.Fatal(err)
		}
		if _, err := dialPaho(t, "tcp://"+h.addr, "late-2", as("late")); err == nil {
			t.Fatal("a removed user connected")
		}
		waitClosed(t, dropped, "a removed user's connection") // the failed login read the file again
	})
	t.Run("a users file with mistakes stops the broker from starting", func(t *testing.T) {
		bad := writeFile(t, "users.yaml", []byte("users:\n  - name: a\n    hash: plain\n"))
		if _, err := New(Config{UsersFile: bad}, nopEvents{}); err == nil || !strings.Contains(err.Error(), "bcrypt") {
			t.Fatalf("New: %v, want the hash refused", err)
		}
	})
}

// nopEvents is a bus for a broker that never starts.
type nopEvents struct{ Events }

func TestACL(t *testing.T) {
	file := writeUsers(t, UsersFile{
		Users: []User{
			testUser(t, "lamp", "write:home/%u", "readwrite:home/%u/#"),
			testUser(t, "dashboard", "read:home/#", "deny:home/lock/#"),
			testUser(t, "monitor", "read:#"),
			testUser(t, "panel"),
			testUser(t, "admin", "readwrite:#"),
		},
		Patterns: []Rule{{Pattern: "home/%c/availability", Access: AccessWrite}},
	})
	h := startHubWith(t, Config{UsersFile: file}, true, beyondLoopback)
	url := "tcp://" + h.addr
	monitor := collect(t, mustDial(t, url, "monitor", as("monitor")), "#")
	lamp := mustDial(t, url, "lamp", as("lamp"))

	// expectNext says that the next message on the bus, and the next one
	// the monitor receives, is on topic: whatever was published before it
	// never arrived.
	expectNext := func(t *testing.T, r *reader, topic string) {
		t.Helper()
		if ev := r.next(); ev.Topic != topic {
			t.Fatalf("the bus got %s (%q), want %s", ev.Topic, ev.Payload, topic)
		}
		if m := nextMessage(t, monitor); m.Topic() != topic {
			t.Fatalf("the monitor got %s (%q), want %s", m.Topic(), m.Payload(), topic)
		}
	}

	t.Run("a device publishes its own state", func(t *testing.T) {
		r := newReader(t, h.bus)
		publish(t, lamp, "home/lamp", 1, []byte(`{"state":"ON"}`))
		expectNext(t, r, "home/lamp")
	})

	t.Run("a publish outside a device's topics reaches neither subscribers nor the log", func(t *testing.T) {
		r := newReader(t, h.bus)
		publish(t, lamp, "home/door/set", 0, []byte(`{"state":"OPEN"}`))
		publish(t, lamp, "home/lamp/availability", 1, []byte("online"))
		expectNext(t, r, "home/lamp/availability")
		if !strings.Contains(h.logs.String(), "message refused: the client may not write to this topic") {
			t.Fatalf("the refusal is not logged:\n%s", h.logs.String())
		}
	})

	t.Run("an MQTT 5 client's refused QoS 1 publish is answered not authorized", func(t *testing.T) {
		r := newReader(t, h.bus)
		c := dialRaw(t, h.addr)
		if ack := c.connectAs(5, "lamp-v5", "lamp", pw("lamp")); ack.ReasonCode != 0 {
			t.Fatalf("CONNACK %#x", ack.ReasonCode)
		}
		c.send(publishPacket("home/door/set", 1, 9, `{"state":"OPEN"}`))
		ack, err := c.read()
		if err != nil || ack.FixedHeader.Type != packets.Puback || ack.ReasonCode != packets.ErrNotAuthorized.Code {
			t.Fatalf("got %+v reason %#x, %v; want PUBACK not authorized", ack.FixedHeader, ack.ReasonCode, err)
		}
		publish(t, lamp, "home/lamp", 0, []byte("after"))
		expectNext(t, r, "home/lamp")
	})

	t.Run("a dashboard may not publish", func(t *testing.T) {
		r := newReader(t, h.bus)
		dash := mustDial(t, url, "dashboard", as("dashboard"))
		publish(t, dash, "home/lamp/set", 0, []byte(`{"state":"OFF"}`))
		publish(t, lamp, "home/lamp", 0, []byte("marker"))
		expectNext(t, r, "home/lamp")
	})

	t.Run("a subscription outside a user's topics gets a failure code", func(t *testing.T) {
		tok := lamp.Subscribe("home/door", 1, func(paho.Client, paho.Message) {})
		if !tok.WaitTimeout(wait) || tok.Error() != nil {
			t.Fatalf("subscribe: %v", tok.Error())
		}
		if code := tok.(*paho.SubscribeToken).Result()["home/door"]; code != 0x80 {
			t.Fatalf("SUBACK code %#x, want 0x80", code)
		}
	})

	t.Run("a message a reader may not read is not delivered on a wider subscription", func(t *testing.T) {
		dash := collect(t, mustDial(t, url, "dashboard-2", as("dashboard")), "home/#")
		admin := mustDial(t, url, "admin", as("admin"))
		publish(t, admin, "home/lock/front", 1, []byte("UNLOCKED"))
		publish(t, admin, "home/hall", 1, []byte("marker"))
		if m := nextMessage(t, dash); m.Topic() != "home/hall" {
			t.Fatalf("the dashboard got %s, which a rule denies it", m.Topic())
		}
		for _, want := range []string{"home/lock/front", "home/hall"} {
			if m := nextMessage(t, monitor); m.Topic() != want {
				t.Fatalf("the monitor got %s, want %s", m.Topic(), want)
			}
		}
	})

	t.Run("%c in a pattern stands for the client id", func(t *testing.T) {
		r := newReader(t, h.bus)
		panel := mustDial(t, url, "panel-1", as("panel"))
		publish(t, panel, "home/panel-2/availability", 0, []byte("online"))
		publish(t, panel, "home/panel-1/availability", 1, []byte("online"))
		expectNext(t, r, "home/panel-1/availability")
	})

	t.Run("%u in a rule stands for the user name", func(t *testing.T) {
		r := newReader(t, h.bus)
		publish(t, lamp, "home/lamp-1/x", 0, []byte("not its name"))
		publish(t, lamp, "home/lamp/x", 1, []byte("its name"))
		expectNext(t, r, "home/lamp/x")
	})

	t.Run("a will on a topic the client may not write is refused at CONNECT", func(t *testing.T) {
		_, err := dialPaho(t, url, "lamp-will", as("lamp"), func(o *paho.ClientOptions) {
			o.SetWill("home/door/set", `{"state":"OPEN"}`, 0, false)
		})
		if err == nil {
			t.Fatal("a client left a will it could not have published")
		}
	})
}

func TestUsersFileMode(t *testing.T) {
	file := writeUsers(t, UsersFile{Users: []User{testUser(t, "lamp")}})
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	h := startHub(t, Config{UsersFile: file}, true)
	if !strings.Contains(h.logs.String(), "users file is readable by others") {
		t.Fatalf("no warning about a users file others can read:\n%s", h.logs.String())
	}
}
