package pomocore

// Awaited is a classification on its way: an activity nothing local could
// decide, whose answer a slower source (the LLM fallback) was asked for.
// Several sightings of the same activity may share one Awaited. Safe for
// concurrent use.
type Awaited interface {
	// Done is closed once the answer is known or the source gave up.
	Done() <-chan struct{}
	// Result returns, once Done is closed, the answer and true when the
	// source answered, or the default category and false when it failed
	// (errors, an open circuit breaker, shutdown). Before Done it returns
	// the zero Classification and false.
	Result() (Classification, bool)
}
