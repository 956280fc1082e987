package broker

import "time"

// buckets is a token bucket per key: per address for the connection rate
// (gate), per client id for the publish rate (throttle). The caller holds
// its own lock around every call.
type buckets[K comparable] struct {
	rate, burst float64
	m           map[K]*bucket
	nextSweep   int // table size at which full buckets are next forgotten
}

// bucket is one key's tokens.
type bucket struct {
	tokens float64 // below zero while a publish waits for the token it took
	last   time.Time
	held   bool // the throttle's: held to the rate since the bucket was last full
}

// Bounds of a table: past sweepAt entries the full buckets (keys quiet long
// enough to be forgotten) are dropped; past maxBuckets the table starts
// over rather than grow.
const (
	sweepAt    = 1024
	maxBuckets = 1 << 16
)

func newBuckets[K comparable](rate, burst float64) buckets[K] {
	return buckets[K]{rate: rate, burst: burst, m: make(map[K]*bucket), nextSweep: sweepAt}
}

// refill returns k's bucket with the tokens earned since it was last seen;
// a new key gets a full bucket.
func (bs *buckets[K]) refill(k K, now time.Time) *bucket {
	b := bs.m[k]
	if b == nil {
		if len(bs.m) >= bs.nextSweep {
			bs.sweep(now)
		}
		b = &bucket{tokens: bs.burst, last: now}
		bs.m[k] = b
	}
	b.tokens = min(bs.burst, b.tokens+now.Sub(b.last).Seconds()*bs.rate)
	b.last = now
	return b
}

// sweep forgets the keys whose buckets have refilled (a full bucket is what
// a new key gets), and starts over rather than grow past maxBuckets. The
// next sweep waits until the table has doubled, so that many busy keys do
// not make every new one sweep.
func (bs *buckets[K]) sweep(now time.Time) {
	for k, b := range bs.m {
		if b.tokens+now.Sub(b.last).Seconds()*bs.rate >= bs.burst {
			delete(bs.m, k)
		}
	}
	if len(bs.m) >= maxBuckets {
		clear(bs.m)
	}
	bs.nextSweep = max(sweepAt, 2*len(bs.m))
}
