//go:build !invariants

// Package invariants switches on extra consistency checks (offsets strictly increase, indexes
// sorted, high watermark <= end offset) in builds with the "invariants" tag. The checks panic;
// the tag never changes a production code path otherwise. CI runs the tests with and without it.
package invariants

// Enabled is false in production builds.
const Enabled = false
