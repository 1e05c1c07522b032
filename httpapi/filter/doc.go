// Package filter parses and evaluates the common subset of Consul's
// ?filter= expression language (go-bexpr): ==, !=, in, not in, contains,
// not contains, matches, not matches, is empty, is not empty, and, or, not
// and parentheses. Selectors are field paths into the Go values the HTTP API
// returns (struct fields by name or JSON name, case-insensitively; map keys;
// a slice on the way fans out to all its elements, so Checks.Status matches
// if any check's status matches).
//
// It is not a full go-bexpr: there are no typed comparisons beyond string
// forms (numbers and booleans compare by their decimal / true-false text).
package filter
