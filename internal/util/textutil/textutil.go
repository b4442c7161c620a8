// Package textutil holds small string helpers shared by several packages.
package textutil

import "unicode/utf8"

// Clip returns s cut to at most n bytes, on a rune boundary, with "…"
// appended when it was cut.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
