package rules

import "unsafe"

// b2s and s2b view bytes as a string and back without copying. The result must not outlive
// the original, and bytes from s2b must not be written. This is the package's only unsafe
// code.
func b2s(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

func s2b(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
