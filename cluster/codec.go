package cluster

import (
	"encoding/binary"
	"unicode/utf8"
)

// encoder appends the wire encoding. Callers validate first: str assumes
// the string is within its bound (and so fits a 16-bit length).
type encoder struct{ b []byte }

func (e *encoder) u8(v byte)    { e.b = append(e.b, v) }
func (e *encoder) u16(v uint16) { e.b = binary.BigEndian.AppendUint16(e.b, v) }
func (e *encoder) u64(v uint64) { e.b = binary.BigEndian.AppendUint64(e.b, v) }
func (e *encoder) i64(v int64)  { e.u64(uint64(v)) }
func (e *encoder) str(s string) { e.u16(uint16(len(s))); e.b = append(e.b, s...) }
func (e *encoder) raw(b []byte) { e.b = append(e.b, b...) }

// decoder reads the wire encoding. The first error sticks: later reads
// return zero values. Nothing it returns aliases the input.
type decoder struct {
	b    []byte
	what string // "anchor message", "node meta", ... for error messages
	err  error
}

func (d *decoder) fail(kind error, format string, args ...any) {
	if d.err == nil {
		d.err = wireErrorf(kind, d.what+": "+format, args...)
	}
}

// take returns the next n bytes, a view into the input.
func (d *decoder) take(n int, field string) []byte {
	if d.err != nil {
		return nil
	}
	if n > len(d.b) {
		d.fail(ErrTruncated, "truncated reading %s (need %d bytes, %d left)", field, n, len(d.b))
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8(field string) byte {
	if b := d.take(1, field); b != nil {
		return b[0]
	}
	return 0
}

func (d *decoder) u16(field string) uint16 {
	if b := d.take(2, field); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (d *decoder) u64(field string) uint64 {
	if b := d.take(8, field); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (d *decoder) i64(field string) int64 { return int64(d.u64(field)) }

// str reads a length-prefixed UTF-8 string of at most max bytes; the
// length is checked against max and the bytes left before copying.
func (d *decoder) str(field string, max int) string {
	n := int(d.u16(field + " length"))
	if d.err != nil {
		return ""
	}
	if n > max {
		d.fail(ErrOversized, "%s is %d bytes, the limit is %d", field, n, max)
		return ""
	}
	b := d.take(n, field)
	if d.err != nil {
		return ""
	}
	if !utf8.Valid(b) {
		d.fail(ErrMalformed, "%s is not valid UTF-8", field)
		return ""
	}
	return string(b)
}

// copyN reads exactly n bytes into a new slice.
func (d *decoder) copyN(n int, field string) []byte {
	b := d.take(n, field)
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// end fails if bytes are left over.
func (d *decoder) end() {
	if d.err == nil && len(d.b) != 0 {
		d.fail(ErrMalformed, "%d trailing bytes after the last field", len(d.b))
	}
}

// checkString validates a string field before it is encoded or after it
// is decoded: within max bytes, valid UTF-8, and non-empty if required.
func checkString(what, field, s string, max int, required bool) error {
	switch {
	case required && s == "":
		return wireErrorf(ErrMalformed, "%s: %s is empty", what, field)
	case len(s) > max:
		return wireErrorf(ErrOversized, "%s: %s is %d bytes, the limit is %d", what, field, len(s), max)
	case !utf8.ValidString(s):
		return wireErrorf(ErrMalformed, "%s: %s is not valid UTF-8", what, field)
	}
	return nil
}
