package license

import (
	"fmt"
	"strings"
)

// MaxScopePatterns bounds a domain's scope.
const MaxScopePatterns = 64

// ScopeAllows reports whether product matches one of the patterns. "*"
// matches every product; "acme/*" matches "acme/x" and "acme/x/y" but not
// "acme" or "acmex/y"; any other pattern matches exactly.
func ScopeAllows(patterns []string, product string) bool {
	for _, p := range patterns {
		switch {
		case p == "*":
			return true
		case strings.HasSuffix(p, "/*"):
			if strings.HasPrefix(product, p[:len(p)-1]) && len(product) > len(p)-1 {
				return true
			}
		case p == product:
			return true
		}
	}
	return false
}

// ValidateScope checks scope patterns: non-empty, at most
// MaxScopePatterns, and "*" only alone or as a final "/*" segment.
func ValidateScope(patterns []string) error {
	if len(patterns) > MaxScopePatterns {
		return fmt.Errorf("%d scope patterns: at most %d are allowed", len(patterns), MaxScopePatterns)
	}
	for _, p := range patterns {
		if p == "" || len(p) > 256 {
			return fmt.Errorf("scope pattern %q must be 1 to 256 bytes", p)
		}
		if p == "*" {
			continue
		}
		body := strings.TrimSuffix(p, "/*")
		if strings.Contains(body, "*") || body == "" || strings.HasPrefix(body, "/") {
			return fmt.Errorf("scope pattern %q: use a product name, 'prefix/*', or '*'", p)
		}
	}
	return nil
}
