//go:build !compat

package postgres

// requirePostgres: in the default suite, tests needing PostgreSQL skip when it is not installed.
const requirePostgres = false
