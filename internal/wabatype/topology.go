package wabatype

import "cmp"

// The default names of the stream, the consumer and the subjects (README,
// "Configuration").
const (
	DefaultStream           = "WABA"
	DefaultConsumer         = "waba-assigner"
	DefaultSubject          = "waba.shared"
	DefaultSucceededSubject = "waba.assignment.succeeded"
	DefaultFailedSubject    = "waba.assignment.failed"
)

// Topology names the stream, consumer and subjects.
type Topology struct {
	Stream           string // Defaults to DefaultStream.
	Consumer         string // Defaults to DefaultConsumer.
	Subject          string // input. Defaults to DefaultSubject.
	SucceededSubject string // Defaults to DefaultSucceededSubject.
	FailedSubject    string // Defaults to DefaultFailedSubject.
}

// WithDefaults fills the default names into empty fields.
func (t Topology) WithDefaults() Topology {
	t.Stream = cmp.Or(t.Stream, DefaultStream)
	t.Consumer = cmp.Or(t.Consumer, DefaultConsumer)
	t.Subject = cmp.Or(t.Subject, DefaultSubject)
	t.SucceededSubject = cmp.Or(t.SucceededSubject, DefaultSucceededSubject)
	t.FailedSubject = cmp.Or(t.FailedSubject, DefaultFailedSubject)
	return t
}

// Subjects are the subjects the stream must capture: the input and both
// results.
func (t Topology) Subjects() []string {
	return []string{t.Subject, t.SucceededSubject, t.FailedSubject}
}

// ResultSubject is the subject of a result of outcome OutcomeSucceeded or
// OutcomeFailed.
func (t Topology) ResultSubject(outcome string) string {
	if outcome == OutcomeSucceeded {
		return t.SucceededSubject
	}
	return t.FailedSubject
}
