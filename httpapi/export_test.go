package httpapi

// UnknownsDropped is Unknowns' count of the activities not tracked because
// a bucket was full, for the tests of package httpapi_test.
var UnknownsDropped = (*Unknowns).droppedCount
