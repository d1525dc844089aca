package fsm

import (
	"sync"
	"testing"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
)

// A read must report the applied index of the very state it read: a
// client compares it with its write's index, and fedlic-chaos judges
// stale reads by it. One license is updated at every index, so its
// version is a function of the index; readers racing the applies must
// always see the pair agree.
func TestReadsReportTheIndexOfTheStateTheyRead(t *testing.T) {
	h := newHarness(t)
	h.issue(lic("L1", "acme", "db", seats("seats", 1))) // index 1, version 1
	const updates = 20000
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan string, 3)
	read := func(name string, fn func() (version, index uint64)) {
		defer wg.Done()
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			if v, idx := fn(); v != idx {
				errs <- name + ": version and index disagree"
				return
			}
		}
	}
	wg.Add(3)
	go read("GetAt", func() (uint64, uint64) { l, _, idx := h.f.GetAt("L1"); return l.Version, idx })
	go read("ListAt", func() (uint64, uint64) {
		ls, _, idx := h.f.ListAt(ListOptions{})
		return ls[0].Version, idx
	})
	go read("Check", func() (uint64, uint64) { r := h.f.Check("acme", "db", "seats", 1, at(0)); return r.Version, r.Index })
	for i := 2; i <= updates; i++ {
		h.ok(UpdateType, &pb.UpdateCommand{Id: "L1", SetEntitlements: []*pb.Entitlement{seats("seats", int64(i))}, TimeUnixNano: at(1)})
	}
	close(stop)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if l, _, idx := h.f.GetAt("L1"); l.Version != updates || idx != updates {
		t.Fatalf("after %d updates: version %d at index %d", updates, l.Version, idx)
	}
}
