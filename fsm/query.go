package fsm

import (
	"strconv"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
)

// Get returns the license with id.
func (f *FSM) Get(id string) (*License, bool) {
	l, ok, _ := f.GetAt(id)
	return l, ok
}

// GetAt is Get and the applied index of the state it read.
func (f *FSM) GetAt(id string) (l *License, ok bool, index uint64) {
	index = f.view(func(s *state) { l, ok = s.get(id) })
	return l, ok, index
}

// ListOptions filters and pages a listing. Pages run in id order; After
// is the last id of the previous page.
type ListOptions struct {
	Licensee, Product string
	After             string
	Limit             int
}

// List returns up to opts.Limit licenses after opts.After, and whether
// more remain.
func (f *FSM) List(opts ListOptions) (out []*License, more bool) {
	out, more, _ = f.ListAt(opts)
	return out, more
}

// ListAt is List and the applied index of the state it read.
func (f *FSM) ListAt(opts ListOptions) (out []*License, more bool, index uint64) {
	if opts.Limit <= 0 {
		opts.Limit = 100
	}
	index = f.view(func(s *state) {
		take := func(l *License) bool {
			if len(out) == opts.Limit {
				more = true
				return false
			}
			out = append(out, l)
			return true
		}
		if opts.Licensee != "" {
			// The (licensee, product, id) index serves both filters.
			from := lpKey{licensee: opts.Licensee, product: opts.Product}
			var ids []string
			s.byLP.AscendGreaterOrEqual(from, func(k lpKey) bool {
				if k.licensee != opts.Licensee || (opts.Product != "" && k.product != opts.Product) {
					return false
				}
				if k.id > opts.After {
					ids = append(ids, k.id)
				}
				return true
			})
			sortStrings(ids)
			for _, id := range ids {
				l, _ := s.get(id)
				if !take(l) {
					break
				}
			}
			return
		}
		s.licenses.AscendGreaterOrEqual(&License{ID: opts.After + "\x00"}, func(l *License) bool {
			if opts.Product != "" && l.Product != opts.Product {
				return true
			}
			return take(l)
		})
	})
	return out, more, index
}

// Members returns the recorded members sorted by id.
func (f *FSM) Members() []*Member {
	var out []*Member
	f.view(func(s *state) { out = s.sortedMembers() })
	return out
}

// Member returns one recorded member.
func (f *FSM) Member(id string) (*Member, bool) {
	var m *Member
	var ok bool
	f.view(func(s *state) { m, ok = s.members[id] })
	return m, ok
}

// Domain returns the domain this state belongs to ("" before init).
func (f *FSM) Domain() string {
	var d string
	f.view(func(s *state) { d = s.domain })
	return d
}

// Clock returns the newest leader-stamped time applied (unix ns).
func (f *FSM) Clock() int64 {
	var c int64
	f.view(func(s *state) { c = s.clock })
	return c
}

// NextExpiry returns the earliest expiry of a license that can still
// expire, or 0 if there is none. Leaders use it to schedule sweeps.
func (f *FSM) NextExpiry() int64 {
	var at int64
	f.view(func(s *state) {
		if k, ok := s.byExpiry.Min(); ok {
			at = k.at
		}
	})
	return at
}

// Count returns the number of licenses.
func (f *FSM) Count() int {
	var n int
	f.view(func(s *state) { n = s.licenses.Len() })
	return n
}

// CheckResult answers an entitlement check.
type CheckResult struct {
	Allowed   bool
	Reason    string
	LicenseID string
	Status    pb.Status
	Version   uint64
	// Index is the applied index of the state the answer was read from
	// (0 from Evaluate, which reads no state).
	Index uint64
}

// Check answers whether licensee may use feature of product (amount
// units of it, when amount > 0) at time now. Of several licenses the
// first that allows wins; otherwise the most telling denial is reported.
func (f *FSM) Check(licensee, product, feature string, amount int64, now int64) CheckResult {
	best := CheckResult{Reason: "no license for licensee " + licensee + " and product " + product}
	bestRank := -1
	index := f.view(func(s *state) {
		s.byLP.AscendGreaterOrEqual(lpKey{licensee: licensee, product: product}, func(k lpKey) bool {
			if k.licensee != licensee || k.product != product {
				return false
			}
			l, _ := s.get(k.id)
			r, rank := evaluate(l, feature, amount, now)
			if r.Allowed || rank > bestRank {
				best, bestRank = r, rank
			}
			return !r.Allowed
		})
	})
	best.Index = index
	return best
}

// CheckLicense evaluates one license by id.
func (f *FSM) CheckLicense(id, feature string, amount, now int64) CheckResult {
	l, ok, index := f.GetAt(id)
	if !ok {
		return CheckResult{Reason: "license " + id + " not found on this replica", LicenseID: id, Index: index}
	}
	r, _ := evaluate(l, feature, amount, now)
	r.Index = index
	return r
}

// Evaluate judges one license (e.g. built from a verified peer token).
func Evaluate(l *License, feature string, amount, now int64) CheckResult {
	r, _ := evaluate(l, feature, amount, now)
	return r
}

// evaluate returns the answer for one license and a rank used to pick
// the most useful denial among several licenses.
func evaluate(l *License, feature string, amount, now int64) (CheckResult, int) {
	r := CheckResult{LicenseID: l.ID, Status: l.Status, Version: l.Version}
	deny := func(reason string, rank int) (CheckResult, int) {
		r.Reason = reason
		return r, rank
	}
	switch {
	case l.Status == StatusRevoked:
		return deny("revoked: "+l.Revocation.GetReason(), 0)
	case l.Status == StatusExpired || (l.NotAfter != 0 && now >= l.NotAfter):
		r.Status = StatusExpired
		return deny("expired", 1)
	case l.Status == StatusSuspended:
		return deny("suspended", 2)
	case l.NotBefore != 0 && now < l.NotBefore:
		return deny("not yet valid", 3)
	}
	lim, ok := l.Entitlement(feature)
	switch {
	case !ok:
		return deny("feature "+feature+" is not licensed", 4)
	case lim.IsBool && !lim.Enabled:
		return deny("feature "+feature+" is disabled", 4)
	case !lim.IsBool && amount > lim.Count:
		return deny(overLimit(feature, amount, lim.Count), 4)
	}
	r.Allowed, r.Reason = true, "ok"
	return r, 5
}

func overLimit(feature string, amount, limit int64) string {
	return "amount " + itoa(amount) + " of " + feature + " exceeds the limit " + itoa(limit)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
