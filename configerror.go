package pomocore

import (
	"errors"
	"fmt"
)

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

// Nested returns the errors of the Validate of a config held in the field
// named prefix of another (errors.Join of *ConfigErrors, or nil), each
// *ConfigError's Field put under prefix ("Limits.MaxDuration"), for the
// holder's Validate to join with its own.
func Nested(prefix string, err error) []error {
	if err == nil {
		return nil
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = e
		if ce := (*ConfigError)(nil); errors.As(e, &ce) {
			out[i] = &ConfigError{Field: prefix + "." + ce.Field, Msg: ce.Msg}
		}
	}
	return out
}

// ConfigErrors gathers the *ConfigErrors of one Validate: Add one for each
// setting that cannot work, then join them (errors.Join(errs...)).
type ConfigErrors []error

// Add records that the setting field cannot work, the message formatted
// by fmt.Sprintf(format, args...).
func (e *ConfigErrors) Add(field, format string, args ...any) {
	*e = append(*e, &ConfigError{Field: field, Msg: fmt.Sprintf(format, args...)})
}
