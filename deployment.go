package pomocore

import "time"

// The deployed system's names (CONTRACT sections 1, 3 and 4).
const (
	// DefaultStream is the input stream the main server writes.
	DefaultStream = "pattern_match_stream"
	// DefaultGroup is the deployed data server's consumer group on it.
	DefaultGroup = "pattern_match_group"
	// DefaultSessionStream is the stream of session-end events.
	DefaultSessionStream = "session_score_stream"
	// DefaultSessionGroup is the main server's consumer group on it.
	DefaultSessionGroup = "session_score_group"
	// DefaultTimeZone is the zone of leaderboard periods and sessionDate.
	DefaultTimeZone = "Asia/Seoul"
)

// DeadStream is the default dead-letter stream of the input stream
// stream: "<stream>:dead".
func DeadStream(stream string) string { return stream + ":dead" }

// DefaultLocation returns DefaultTimeZone's location (a fixed +09:00 zone
// when the zone database is missing: Seoul has no daylight saving time).
func DefaultLocation() *time.Location {
	loc, err := time.LoadLocation(DefaultTimeZone)
	if err != nil {
		return time.FixedZone("KST", 9*60*60)
	}
	return loc
}

// Deployment is what the cut-over tools (doctor, compare) are told of the
// deployed system, embedded in their configurations. The zero value of a
// field means the deployed one (WithDefaults).
type Deployment struct {
	// Stream is the input stream (default DefaultStream).
	Stream string
	// Group is the consumer group on it that the tool looks at (default
	// DefaultGroup).
	Group string
	// Location is the service time zone (default DefaultLocation()).
	Location *time.Location
	// Taxonomy is the categories and the work aggregate (default
	// DefaultTaxonomy()).
	Taxonomy *Taxonomy
}

// WithDefaults returns d with the deployed value of each zero field.
func (d Deployment) WithDefaults() Deployment {
	if d.Stream == "" {
		d.Stream = DefaultStream
	}
	if d.Group == "" {
		d.Group = DefaultGroup
	}
	if d.Location == nil {
		d.Location = DefaultLocation()
	}
	if d.Taxonomy == nil {
		d.Taxonomy = DefaultTaxonomy()
	}
	return d
}
