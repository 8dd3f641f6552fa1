package pomocore_test

import (
	"errors"
	"testing"

	"github.com/pomocore/pomocore"
)

// A Validate gathers one *ConfigError per setting with ConfigErrors.Add, and
// a holder's Validate puts them under its field with Nested: the command
// that maps settings onto fields finds each by errors.As.
func TestConfigErrorsNameEachFieldUnderItsHolder(t *testing.T) {
	var errs pomocore.ConfigErrors
	errs.Add("MaxDuration", "%v: want > 0", -1)
	errs.Add("MaxTitle", "empty")
	nested := pomocore.Nested("Limits", errors.Join(errs...))
	if len(nested) != 2 {
		t.Fatalf("Nested = %v, want 2 errors", nested)
	}
	var fields []string
	for _, e := range nested {
		var ce *pomocore.ConfigError
		if !errors.As(e, &ce) {
			t.Fatalf("%v is not a *ConfigError", e)
		}
		fields = append(fields, ce.Field)
	}
	if fields[0] != "Limits.MaxDuration" || fields[1] != "Limits.MaxTitle" {
		t.Errorf("fields = %v", fields)
	}
	if got := nested[0].Error(); got != "Limits.MaxDuration: -1: want > 0" {
		t.Errorf("message = %q", got)
	}
	var none pomocore.ConfigErrors
	if err := errors.Join(none...); err != nil {
		t.Errorf("no errors joined = %v, want nil", err)
	}
}
