package license

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// The binary encodings (token payloads, anchors) are big-endian and
// fixed-width except for strings and byte fields, which carry a 16-bit
// length. There is exactly one encoding of each value, so decoding and
// re-encoding gives back the same bytes and a signature over the bytes is
// a signature over the value.

type encoder struct{ b []byte }

func (e *encoder) u8(v byte)      { e.b = append(e.b, v) }
func (e *encoder) u16(v uint16)   { e.b = binary.BigEndian.AppendUint16(e.b, v) }
func (e *encoder) u32(v uint32)   { e.b = binary.BigEndian.AppendUint32(e.b, v) }
func (e *encoder) u64(v uint64)   { e.b = binary.BigEndian.AppendUint64(e.b, v) }
func (e *encoder) i64(v int64)    { e.u64(uint64(v)) }
func (e *encoder) str(s string)   { e.u16(uint16(len(s))); e.b = append(e.b, s...) }
func (e *encoder) bytes(b []byte) { e.u16(uint16(len(b))); e.b = append(e.b, b...) }
func (e *encoder) boolean(v bool) {
	if v {
		e.u8(1)
	} else {
		e.u8(0)
	}
}

// decoder reads a binary encoding. The first error sticks: later reads
// return zero values, and err says what went wrong first.
type decoder struct {
	b    []byte
	what string // "token payload" or "anchor", for messages
	err  error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = errorf(CodeMalformed, "%s: %s", d.what, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) take(n int, field string) []byte {
	if d.err != nil {
		return nil
	}
	if n > len(d.b) {
		d.fail("truncated reading %s (need %d bytes, %d left)", field, n, len(d.b))
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

func (d *decoder) u32(field string) uint32 {
	if b := d.take(4, field); b != nil {
		return binary.BigEndian.Uint32(b)
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

func (d *decoder) boolean(field string) bool {
	v := d.u8(field)
	if v > 1 {
		d.fail("%s: boolean byte is %d, want 0 or 1", field, v)
	}
	return v == 1
}

// str reads a length-prefixed string of at most max bytes of valid UTF-8.
func (d *decoder) str(field string, max int) string {
	n := int(d.u16(field + " length"))
	if d.err == nil && n > max {
		d.fail("oversized field: %s is %d bytes, the limit is %d", field, n, max)
		return ""
	}
	b := d.take(n, field)
	if d.err == nil && !utf8.Valid(b) {
		d.fail("%s is not valid UTF-8", field)
	}
	return string(b)
}

// bytes reads a length-prefixed byte field of exactly want bytes.
func (d *decoder) bytesN(field string, want int) []byte {
	n := int(d.u16(field + " length"))
	if d.err == nil && n != want {
		d.fail("%s is %d bytes, want %d", field, n, want)
		return nil
	}
	b := d.take(n, field)
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// end fails if bytes are left over.
func (d *decoder) end() {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes after the last field", len(d.b))
	}
}

// checkString validates a required, bounded, UTF-8 string field.
func checkString(field, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%s is empty", field)
	case len(s) > MaxFieldLen:
		return fmt.Errorf("oversized field: %s is %d bytes, the limit is %d", field, len(s), MaxFieldLen)
	case !utf8.ValidString(s):
		return fmt.Errorf("%s is not valid UTF-8", field)
	}
	return nil
}
