package wabatype

import "cmp"

// The default names of the stream, the consumer and the subjects (README,
// "Configuration").
const (
	DefaultStream           = "WABA"
	DefaultConsumer         = "waba-assigner"
	DefaultSubject          = "waba.shared"
	DefaultUnsharedSubject  = "waba.unshared"
	DefaultSucceededSubject = "waba.assignment.succeeded"
	DefaultFailedSubject    = "waba.assignment.failed"
)

// Topology names the stream, consumer and subjects.
type Topology struct {
	Stream           string // Defaults to DefaultStream.
	Consumer         string // Defaults to DefaultConsumer.
	Subject          string // input. Defaults to DefaultSubject.
	UnsharedSubject  string // input: shares that ended. Defaults to DefaultUnsharedSubject.
	SucceededSubject string // Defaults to DefaultSucceededSubject.
	FailedSubject    string // Defaults to DefaultFailedSubject.
}

// WithDefaults fills the default names into empty fields.
func (t Topology) WithDefaults() Topology {
	t.Stream = cmp.Or(t.Stream, DefaultStream)
	t.Consumer = cmp.Or(t.Consumer, DefaultConsumer)
	t.Subject = cmp.Or(t.Subject, DefaultSubject)
	t.UnsharedSubject = cmp.Or(t.UnsharedSubject, DefaultUnsharedSubject)
	t.SucceededSubject = cmp.Or(t.SucceededSubject, DefaultSucceededSubject)
	t.FailedSubject = cmp.Or(t.FailedSubject, DefaultFailedSubject)
	return t
}

// Subjects are the subjects the stream captures: both inputs and both
// results.
func (t Topology) Subjects() []string {
	return []string{t.Subject, t.UnsharedSubject, t.SucceededSubject, t.FailedSubject}
}

// Inputs are the subjects the consumer takes: waba.shared and
// waba.unshared.
func (t Topology) Inputs() []string { return []string{t.Subject, t.UnsharedSubject} }

// ResultSubject is the subject of a result of outcome OutcomeSucceeded or
// OutcomeFailed.
func (t Topology) ResultSubject(outcome string) string {
	if outcome == OutcomeSucceeded {
		return t.SucceededSubject
	}
	return t.FailedSubject
}
