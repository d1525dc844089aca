package fsm

import (
	"fmt"
	"runtime"
	"sync"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
	"google.golang.org/protobuf/proto"
)

const decodeBatch = 1024

// licenseDecoder decodes license records on every core and inserts them
// into one state from a single goroutine.
type licenseDecoder struct {
	st      *state
	batch   [][]byte
	work    chan [][]byte
	out     chan []*License
	errOnce sync.Once
	err     error
	workers sync.WaitGroup
	done    chan struct{}
}

func newLicenseDecoder(st *state) *licenseDecoder {
	d := &licenseDecoder{st: st, work: make(chan [][]byte, 8), out: make(chan []*License, 8), done: make(chan struct{})}
	for i := 0; i < runtime.GOMAXPROCS(0); i++ {
		d.workers.Add(1)
		go d.decode()
	}
	go func() { d.workers.Wait(); close(d.out) }()
	go d.insert()
	return d
}

func (d *licenseDecoder) fail(err error) { d.errOnce.Do(func() { d.err = err }) }

func (d *licenseDecoder) decode() {
	defer d.workers.Done()
	for recs := range d.work {
		ls := make([]*License, 0, len(recs))
		for _, b := range recs {
			var p pb.License
			if err := proto.Unmarshal(b, &p); err != nil {
				d.fail(fmt.Errorf("decode license record: %w", err))
				continue
			}
			l, err := licenseFromProto(&p)
			if err != nil {
				d.fail(fmt.Errorf("license record %s: %w", p.GetId(), err))
				continue
			}
			if plantedBugForgetRevocations && l.Status == StatusRevoked {
				l.Status, l.Revocation = StatusActive, nil
			}
			ls = append(ls, l)
		}
		d.out <- ls
	}
}

func (d *licenseDecoder) insert() {
	defer close(d.done)
	for ls := range d.out {
		for _, l := range ls {
			d.st.put(l)
		}
	}
}

func (d *licenseDecoder) add(rec []byte) {
	d.batch = append(d.batch, rec)
	if len(d.batch) == decodeBatch {
		d.work <- d.batch
		d.batch = nil
	}
}

// wait flushes, waits for every record to be inserted, and reports the
// first decode error.
func (d *licenseDecoder) wait() error {
	if len(d.batch) > 0 {
		d.work <- d.batch
	}
	close(d.work)
	<-d.done
	return d.err
}

// abort stops the decoder after a stream error.
func (d *licenseDecoder) abort() { d.batch = nil; d.wait() }
