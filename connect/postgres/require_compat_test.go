//go:build compat

package postgres

// requirePostgres: under the compat tag a missing PostgreSQL fails the tests.
const requirePostgres = true
