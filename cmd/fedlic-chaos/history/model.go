package history

import (
	"fmt"
	"sort"

	"github.com/anishathalye/porcupine"
)

// regState is the per-license register the linearizability check models.
type regState struct {
	Exists  bool
	Status  string
	Version uint64
}

// regInput is what an operation asked for, on one license.
type regInput struct {
	ID   string
	Kind Kind
	// NewSide marks the half of a replace that creates the new license;
	// the other half revokes the old one.
	NewSide bool
}

// regOutput is what an operation returned. Unknown marks a write whose
// outcome the client never learned.
type regOutput struct {
	Unknown bool
	Status  string
	Version uint64
	Allowed int8 // 0 not reported, 1 allowed, -1 denied
}

// registerModel is the sequential specification of one license. It is
// deterministic: an unknown write is given Return = +inf, so porcupine may
// linearize it after everything else, which is the same as "no effect";
// linearized anywhere earlier it takes its effect if its precondition
// holds and is a no-op otherwise (the server would have rejected it).
var registerModel = porcupine.Model{
	Partition: func(ops []porcupine.Operation) [][]porcupine.Operation {
		return partitionByLicense(ops)
	},
	Init: func() interface{} { return regState{} },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		return step(state.(regState), input.(regInput), output.(regOutput))
	},
	Equal: func(a, b interface{}) bool { return a.(regState) == b.(regState) },
	DescribeOperation: func(input, output interface{}) string {
		in, out := input.(regInput), output.(regOutput)
		kind := string(in.Kind)
		if in.Kind == KindReplace {
			kind += map[bool]string{false: "(old)", true: "(new)"}[in.NewSide]
		}
		if out.Unknown {
			return fmt.Sprintf("%s(%s) -> ?", kind, in.ID)
		}
		s := fmt.Sprintf("%s(%s) -> %s v%d", kind, in.ID, orDash(out.Status), out.Version)
		switch out.Allowed {
		case 1:
			s += " allowed"
		case -1:
			s += " denied"
		}
		return s
	},
	DescribeState: func(state interface{}) string {
		st := state.(regState)
		if !st.Exists {
			return "absent"
		}
		return fmt.Sprintf("%s v%d", st.Status, st.Version)
	},
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func partitionByLicense(ops []porcupine.Operation) [][]porcupine.Operation {
	byID := map[string][]porcupine.Operation{}
	for _, op := range ops {
		id := op.Input.(regInput).ID
		byID[id] = append(byID[id], op)
	}
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([][]porcupine.Operation, len(ids))
	for i, id := range ids {
		out[i] = byID[id]
	}
	return out
}

func step(s regState, in regInput, out regOutput) (bool, regState) {
	switch {
	case in.Kind == KindIssue || (in.Kind == KindReplace && in.NewSide):
		if s.Exists {
			// Ids are unique: an issue never lands on an existing license.
			return out.Unknown, s
		}
		next := regState{Exists: true, Status: StatusActive, Version: 1}
		if out.Unknown || in.NewSide {
			return true, next
		}
		if out.Version != 0 && out.Version != 1 {
			return false, s
		}
		if out.Status != "" {
			if out.Status == StatusRevoked {
				return false, s
			}
			next.Status = out.Status // e.g. issued suspended
		}
		return true, next

	case in.Kind == KindUpdate:
		if !s.Exists || s.Status == StatusRevoked {
			return out.Unknown, s
		}
		next := s
		next.Version++
		if out.Unknown {
			return true, next
		}
		if out.Version != 0 && out.Version != next.Version {
			return false, s
		}
		if out.Status != "" {
			// An update may suspend or resume, never revoke.
			if out.Status == StatusRevoked {
				return false, s
			}
			next.Status = out.Status
		}
		return true, next

	case in.Kind == KindRevoke || in.Kind == KindReplace:
		if !s.Exists || s.Status == StatusRevoked {
			return out.Unknown, s
		}
		next := regState{Exists: true, Status: StatusRevoked, Version: s.Version + 1}
		if out.Unknown {
			return true, next
		}
		if out.Version != 0 && out.Version != next.Version {
			return false, s
		}
		if out.Status != "" && out.Status != StatusRevoked {
			return false, s
		}
		return true, next

	case in.Kind.IsRead():
		if out.Status == "" && out.Version == 0 {
			return !s.Exists, s // observed absent
		}
		if !s.Exists {
			return false, s
		}
		if out.Version != 0 && out.Version != s.Version {
			return false, s
		}
		if !statusMatches(out.Status, s.Status) {
			return false, s
		}
		if out.Allowed == 1 && s.Status != StatusActive {
			return false, s
		}
		return true, s
	}
	return false, s
}

// statusMatches reports whether a read reporting observed is consistent
// with a license stored with status stored. A read may report "expired"
// for a license whose validity window has passed although no expiry
// command has been applied yet: that changes neither the stored status nor
// the version, so it matches any stored status but revoked.
func statusMatches(observed, stored string) bool {
	switch observed {
	case "", stored:
		return true
	case StatusExpired:
		return stored != StatusRevoked
	}
	return false
}
