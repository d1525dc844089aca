package fsm

import (
	"unicode/utf8"

	pb "github.com/fedlic/fedlic/api/fedlicpb"
)

// Bounds on what one license may hold. They keep commands, tokens and
// snapshots small and are checked both by the leader before it proposes
// and by Apply, so a bad entry can never change state.
const (
	MaxNameLen      = 256
	MaxFeatures     = 64
	MaxMetadata     = 32
	MaxMetaValueLen = 1024
	MaxReasonLen    = 512
)

func checkName(what, v string) error {
	if v == "" {
		return errorf(CodeInvalid, "%s is empty: give a %s", what, what)
	}
	if len(v) > MaxNameLen {
		return errorf(CodeInvalid, "%s is %d bytes long: the limit is %d", what, len(v), MaxNameLen)
	}
	if !utf8.ValidString(v) {
		return errorf(CodeInvalid, "%s is not valid UTF-8", what)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return errorf(CodeInvalid, "%s %q contains a control character", what, v)
		}
	}
	return nil
}

func checkEntitlements(ents []*pb.Entitlement) error {
	if len(ents) > MaxFeatures {
		return errorf(CodeInvalid, "%d features: a license may have at most %d", len(ents), MaxFeatures)
	}
	seen := make(map[string]bool, len(ents))
	for _, e := range ents {
		if err := checkName("feature name", e.GetFeature()); err != nil {
			return err
		}
		if seen[e.GetFeature()] {
			return errorf(CodeInvalid, "feature %q is given twice", e.GetFeature())
		}
		seen[e.GetFeature()] = true
		if _, err := LimitFromProto(e.GetLimit()); err != nil {
			return errorf(CodeInvalid, "feature %q: %v", e.GetFeature(), err)
		}
	}
	return nil
}

func checkMetadata(m map[string]string) error {
	if len(m) > MaxMetadata {
		return errorf(CodeInvalid, "%d metadata keys: at most %d are allowed", len(m), MaxMetadata)
	}
	for k, v := range m {
		if err := checkName("metadata key", k); err != nil {
			return err
		}
		if len(v) > MaxMetaValueLen || !utf8.ValidString(v) {
			return errorf(CodeInvalid, "metadata %q: value must be valid UTF-8 of at most %d bytes", k, MaxMetaValueLen)
		}
	}
	return nil
}

func checkWindow(notBefore, notAfter, now int64) error {
	if notBefore < 0 || notAfter < 0 {
		return errorf(CodeInvalid, "validity times must not be negative")
	}
	if notAfter != 0 && notBefore != 0 && notAfter <= notBefore {
		if notAfter == notBefore {
			return errorf(CodeInvalid, "validity window is empty: not_after equals not_before; give an end after the start")
		}
		return errorf(CodeInvalid, "validity window is inverted: not_after is before not_before; swap them or drop one")
	}
	if notAfter != 0 && now != 0 && notAfter <= now {
		return errorf(CodeInvalid, "validity window already ended: not_after is in the past; give a later end")
	}
	return nil
}

// ValidateLicense checks a license about to be issued at time now.
func ValidateLicense(l *pb.License, now int64) error {
	if err := checkName("license id", l.GetId()); err != nil {
		return err
	}
	if err := checkName("licensee", l.GetLicensee()); err != nil {
		return err
	}
	if err := checkName("product", l.GetProduct()); err != nil {
		return err
	}
	if err := checkEntitlements(l.GetEntitlements()); err != nil {
		return err
	}
	if err := checkMetadata(l.GetMetadata()); err != nil {
		return err
	}
	return checkWindow(l.GetNotBeforeUnixNano(), l.GetNotAfterUnixNano(), now)
}

// ValidateUpdate checks the parts of an update that do not depend on state.
func ValidateUpdate(c *pb.UpdateCommand) error {
	if c.GetId() == "" {
		return errorf(CodeInvalid, "license id is empty: give the id of the license to update")
	}
	if err := checkEntitlements(c.GetSetEntitlements()); err != nil {
		return err
	}
	for _, f := range c.GetRemoveFeatures() {
		if err := checkName("feature name", f); err != nil {
			return err
		}
	}
	if err := checkMetadata(c.GetSetMetadata()); err != nil {
		return err
	}
	switch c.GetSetStatus() {
	case pb.Status_STATUS_UNSPECIFIED, StatusActive, StatusSuspended:
	default:
		return errorf(CodeInvalid, "status %s cannot be set by update: use suspend or resume (revoke has its own command)", c.GetSetStatus())
	}
	if c.GetSetNotAfter() && c.GetNotAfterUnixNano() != 0 && c.GetNotAfterUnixNano() <= c.GetTimeUnixNano() {
		return errorf(CodeInvalid, "validity window already ended: the new not_after is in the past")
	}
	return nil
}

// ValidateRevoke checks a revoke command's fields.
func ValidateRevoke(c *pb.RevokeCommand) error {
	if c.GetId() == "" {
		return errorf(CodeInvalid, "license id is empty: give the id of the license to revoke")
	}
	if c.GetReason() == "" {
		return errorf(CodeInvalid, "revocation reason is empty: say why the license is revoked (--reason)")
	}
	if len(c.GetReason()) > MaxReasonLen {
		return errorf(CodeInvalid, "revocation reason is %d bytes: the limit is %d", len(c.GetReason()), MaxReasonLen)
	}
	return nil
}
