package main

import (
	"strings"
	"unicode/utf8"
)

// columnGlue separates columns, as Consul's output does.
const columnGlue = "  "

// columnize aligns rows into left-justified columns joined by two spaces.
// Every column but the last is padded to its widest cell, which is what
// Consul's columnizer prints, so scripts that split on runs of spaces or on
// fixed offsets work the same. Rows may have different lengths.
func columnize(rows [][]string) string {
	var widths []int
	for _, r := range rows {
		for i, cell := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			if n := utf8.RuneCountInString(cell); n > widths[i] {
				widths[i] = n
			}
		}
	}
	var b strings.Builder
	for _, r := range rows {
		for i, cell := range r {
			b.WriteString(cell)
			if i == len(r)-1 {
				break
			}
			b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cell)))
			b.WriteString(columnGlue)
		}
		b.WriteByte('\n')
	}
	return b.String()
}
