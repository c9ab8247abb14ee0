//go:build race

package compress

// raceEnabled: the race detector makes sync.Pool drop items at random, so allocation budgets
// that rest on the pools are not checked under it.
const raceEnabled = true
