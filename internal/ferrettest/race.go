//go:build race

package ferrettest

// RaceEnabled reports whether the test binary was built with -race.
const RaceEnabled = true
