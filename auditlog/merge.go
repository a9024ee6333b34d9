package auditlog

import (
	"iter"
	"math"
)

// Merge interleaves several streams of results (one per control-plane node,
// say) by Event.Time, oldest first: a k-way merge that keeps each stream in
// its own order, so one request's stages stay together and in order (audit
// logs are nearly, not strictly, in time order). Of events with the same
// time, the one from the earlier stream comes first; events without a time
// come first in their stream's order.
//
// Errors are yielded as the merge meets them, reading ahead of the events
// it holds back. Each stream must keep its current result valid until it is
// advanced, as ScanFiles and ScanReader do: a result is valid until the
// iteration continues. Stopping the iteration stops every stream.
func Merge[T any](streams ...iter.Seq[Result[T]]) iter.Seq[Result[T]] {
	return func(yield func(Result[T]) bool) {
		type cursor struct {
			next func() (Result[T], bool)
			stop func()
			r    Result[T]
			at   int64 // Event.Time in unix nanoseconds
		}
		cursors := make([]*cursor, 0, len(streams))
		defer func() {
			for _, c := range cursors {
				c.stop()
			}
		}()
		// advance moves c to its next event, yielding the errors before it;
		// it reports whether c has one, and halted when the caller stopped.
		halted := false
		advance := func(c *cursor) bool {
			for {
				r, ok := c.next()
				switch {
				case !ok:
					return false
				case r.Err != nil:
					if !yield(r) {
						halted = true
						return false
					}
				default:
					c.r, c.at = r, timeKey(r.Event)
					return true
				}
			}
		}
		var live []*cursor
		for _, s := range streams {
			next, stop := iter.Pull(s)
			c := &cursor{next: next, stop: stop}
			cursors = append(cursors, c)
			if advance(c) {
				live = append(live, c)
			}
			if halted {
				return
			}
		}
		for len(live) > 0 {
			first := 0
			for i, c := range live {
				if c.at < live[first].at {
					first = i
				}
			}
			c := live[first]
			if !yield(c.r) {
				return
			}
			if !advance(c) {
				if halted {
					return
				}
				live = append(live[:first], live[first+1:]...)
			}
		}
	}
}

// timeKey orders events by Event.Time; those without one first.
func timeKey(ev *Event) int64 {
	t := ev.Time()
	if t.IsZero() {
		return math.MinInt64
	}
	return t.UnixNano()
}
