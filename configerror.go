package pomocore

// ConfigError is one setting of a package's Config that cannot work: Field
// is the Config field's name ("BatchSize", "Limits.MaxDuration"), so that
// the command that maps its own settings onto the Config can name the
// setting in the message. The packages' Validate methods return these,
// joined.
type ConfigError struct {
	Field string
	Msg   string
}

// Error returns "Field: Msg".
func (e *ConfigError) Error() string { return e.Field + ": " + e.Msg }
