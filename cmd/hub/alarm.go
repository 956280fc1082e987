package main

import (
	"context"
	"fmt"
	"time"

	"hearth"
	"hearth/automations"
	"hearth/devices"
)

// ownDevices are the devices the hub keeps itself: the house mode, people's
// presence set by commands (devices.House) and the alarm panel
// (devices.Alarm). Each reads the bus as a must-not-miss consumer: commands
// to <base>/house/set, <base>/<person>/set and <base>/alarm/set, and the
// alarm's sensors' state changes; each publishes its state retained through
// the broker's Commander, from a goroutine of its own.
type ownDevices struct {
	house *devices.House
	alarm *devices.Alarm // nil without an alarm: section (and outside the demo)
}

// startOwnDevices makes the house and, when configured (alarmCfg, or the
// demo's), the alarm, and subscribes them to the bus. Call it after restore
// (they take their state back from the registry) and before the broker
// starts (they must not miss a command); runCtx is the consumers' context.
func (a *App) startOwnDevices(runCtx context.Context, houseCfg devices.HouseConfig, alarmCfg *devices.AlarmConfig, demo bool, cmd hearth.Commander, clock devices.Clock) (*ownDevices, error) {
	o := devices.HubOptions{Registry: a.devices, Commander: cmd, Clock: clock, Logger: a.log, Names: pageNames{a}}
	own := &ownDevices{}
	var err error
	if own.house, err = devices.NewHouse(houseCfg, o); err != nil {
		return nil, err
	}
	houseSub := a.bus.Subscribe("house", hearth.MustNotMiss)
	a.goRun("house", func() error { return own.house.Consume(runCtx, houseSub) })

	if alarmCfg == nil && demo {
		if alarmCfg, err = demoAlarm(); err != nil {
			own.Close()
			return nil, err
		}
	}
	if alarmCfg != nil {
		if own.alarm, err = devices.NewAlarm(*alarmCfg, o); err != nil {
			own.Close()
			return nil, err
		}
		alarmSub := a.bus.Subscribe("alarm", hearth.MustNotMiss)
		a.goRun("alarm", func() error { return own.alarm.Consume(runCtx, alarmSub) })
	}
	return own, nil
}

// pageNames names devices as the page does (web's withMeta): by what was
// set on the page, else by the devices file or the device itself.
type pageNames struct{ a *App }

// DeviceName returns the name the page shows for device id, "" for none.
func (n pageNames) DeviceName(id string) string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	meta, err := n.a.store.DeviceMeta(ctx)
	if err != nil {
		n.a.log.Warn("the names set on the page could not be read: the alarm names the sensor by its own or its id", "device", id, "err", err)
	}
	in, _ := n.a.devices.Info(id)
	return meta[id].Or(in).Name
}

// Close stops the alarm's delays and both publishers; their consumers end
// with the bus.
func (o *ownDevices) Close() {
	if o == nil {
		return
	}
	if o.alarm != nil {
		o.alarm.Close()
	}
	if o.house != nil {
		o.house.Close()
	}
}

// demoCode is the demo alarm's code, said in the hub's start-up banner.
const demoCode = "1234"

// demoAlarm is the demo house's alarm: motion or the front door trip it when
// armed away, the front door alone at night; short delays, so that the demo
// shows the whole story in a couple of minutes.
func demoAlarm() (*devices.AlarmConfig, error) {
	hash, err := devices.HashAlarmCode(demoCode)
	if err != nil {
		return nil, fmt.Errorf("demo alarm: %w", err)
	}
	exit, entry, trigger := 10*time.Second, 15*time.Second, time.Minute
	return &devices.AlarmConfig{
		CodeHash: hash, ExitDelay: &exit, EntryDelay: &entry, TriggerTime: &trigger,
		Sensors: map[string][]string{
			devices.AlarmArmedAway:  {"hall_motion", "kitchen_motion", "front_door"},
			devices.AlarmArmedNight: {"front_door"},
		},
	}, nil
}

// alarmClock lets an automations.Clock (the engine's, or a test's
// FakeClock) drive the alarm's delays too.
type alarmClock struct{ automations.Clock }

// AfterFunc arms f on the automations clock.
func (c alarmClock) AfterFunc(d time.Duration, f func()) devices.Timer {
	return c.Clock.AfterFunc(d, f)
}

// presenceConfig is the configured presence with home at the hub's
// location unless it places home itself.
func presenceConfig(p devices.Presence, loc Location) devices.Presence {
	if p.Latitude == 0 && p.Longitude == 0 {
		p.Latitude, p.Longitude = loc.Latitude, loc.Longitude
	}
	return p
}
