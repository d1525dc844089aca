package license

import "testing"

func TestScopeAllows(t *testing.T) {
	cases := []struct {
		patterns []string
		product  string
		want     bool
	}{
		{[]string{"*"}, "anything/at/all", true},
		{[]string{"acme/*"}, "acme/x", true},
		{[]string{"acme/*"}, "acme/x/y", true},
		{[]string{"acme/*"}, "acme", false},
		{[]string{"acme/*"}, "acme/", false},
		{[]string{"acme/*"}, "acmex/y", false},
		{[]string{"acme/db"}, "acme/db", true},
		{[]string{"acme/db"}, "acme/db2", false},
		{[]string{"globex/*", "acme/db"}, "acme/db", true},
		{nil, "acme/db", false},
	}
	for _, c := range cases {
		if got := ScopeAllows(c.patterns, c.product); got != c.want {
			t.Errorf("ScopeAllows(%q, %q) = %v, want %v", c.patterns, c.product, got, c.want)
		}
	}
}

func TestValidateScope(t *testing.T) {
	for _, ok := range [][]string{nil, {"*"}, {"acme/*"}, {"acme/db", "globex/*"}} {
		if err := ValidateScope(ok); err != nil {
			t.Errorf("ValidateScope(%q) = %v", ok, err)
		}
	}
	for _, bad := range [][]string{{""}, {"a*"}, {"/*"}, {"acme/*/x"}, {"/acme"}, {"*/x"}} {
		if err := ValidateScope(bad); err == nil {
			t.Errorf("ValidateScope(%q) accepted", bad)
		}
	}
}
