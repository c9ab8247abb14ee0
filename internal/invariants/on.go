//go:build invariants

package invariants

// Enabled is true in builds with the invariants tag: cheap-in-production checks become loud.
const Enabled = true
