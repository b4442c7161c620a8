// Package handlers decides the outcome of one waba.shared event: decode and
// validate it, resolve the system user, read the WABA's assigned users,
// assign the missing tasks, verify, and say what should happen next in a
// small vocabulary (wabatype's Done, Failed, RetryLater, Paused). It knows
// nothing of JetStream: the worker maps an Outcome to Ack, TermWithReason or
// NakWithDelay.
//
// Graph calls go through the circuit breaker and are retried in-process with
// exponential backoff and jitter, within a per-delivery budget. A rate-limit
// answer that says how long to wait holds back every Graph call of the
// process, not just the event that saw it.
//
// The Assigner is the worker's Handler: besides Handle it tells the
// consumer, which owns the pause policy, whether Graph refuses work right now
// (Paused: the breaker is open), whether work may resume (Probe, which
// classifies a failed probe as PauseCredentials or PauseBreaker), and the
// retries_exhausted outcome of a delivery the consumer stops holding
// (GiveUp).
package handlers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/wabaworker/waba-worker/internal/breaker"
	"github.com/wabaworker/waba-worker/internal/events"
	"github.com/wabaworker/waba-worker/internal/graph"
	"github.com/wabaworker/waba-worker/internal/util/timeutil"
	"github.com/wabaworker/waba-worker/internal/wabatype"
)

// Graph is what the assigner needs of Meta's Graph API; *graph.Client has it.
type Graph interface {
	FindSystemUser(ctx context.Context, businessID string, match func(graph.SystemUser) bool) (graph.SystemUser, bool, error)
	FindAssignedUser(ctx context.Context, wabaID, businessID, userID string) (graph.AssignedUser, bool, error)
	AssignUser(ctx context.Context, wabaID, userID string, tasks []string) error
	Probe(ctx context.Context, businessID string, admin bool) error
}

// Config configures an Assigner.
type Config struct {
	Graph   Graph            // required
	Breaker *breaker.Breaker // required
	Logger  *slog.Logger     // Defaults to a logger that discards.

	BusinessID     string   // required: the BSP's business portfolio.
	SystemUserID   string   // one of SystemUserID and SystemUserName is required.
	SystemUserName string   //
	Tasks          []string // tasks to assign when the event names none. Defaults to [MANAGE].

	RetryInitial    time.Duration // Defaults to 500ms.
	RetryMax        time.Duration // Defaults to 30s.
	RetryMaxElapsed time.Duration // in-process budget per delivery. Defaults to 2m.

	// CredentialsDelay is how long an event held during a credentials pause
	// waits before it comes back. Defaults to 30s.
	CredentialsDelay time.Duration

	// UnsharedSubject is the subject of waba.unshared events, which make no
	// Graph call and are only recorded. Defaults to
	// wabatype.DefaultUnsharedSubject.
	UnsharedSubject string

	Now func() time.Time // Defaults to time.Now.
}

// DefaultConfig holds the defaults of the settings the assigner owns: what
// a zero field of Config becomes.
func DefaultConfig() Config {
	return Config{
		Tasks:            []string{"MANAGE"},
		RetryInitial:     500 * time.Millisecond,
		RetryMax:         30 * time.Second,
		RetryMaxElapsed:  2 * time.Minute,
		CredentialsDelay: 30 * time.Second,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if len(c.Tasks) == 0 {
		c.Tasks = d.Tasks
	}
	if c.RetryInitial <= 0 {
		c.RetryInitial = d.RetryInitial
	}
	if c.RetryMax <= 0 {
		c.RetryMax = d.RetryMax
	}
	if c.RetryMaxElapsed <= 0 {
		c.RetryMaxElapsed = d.RetryMaxElapsed
	}
	if c.CredentialsDelay <= 0 {
		c.CredentialsDelay = d.CredentialsDelay
	}
	c.UnsharedSubject = cmp.Or(c.UnsharedSubject, wabatype.DefaultUnsharedSubject)
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Graph == nil:
		return errors.New("handlers: Graph is required")
	case c.Breaker == nil:
		return errors.New("handlers: Breaker is required")
	case c.BusinessID == "":
		return errors.New("handlers: BusinessID is required")
	case c.SystemUserID == "" && c.SystemUserName == "":
		return errors.New("handlers: SystemUserID or SystemUserName is required")
	}
	return nil
}

// Assigner handles waba.shared events. It is safe for concurrent use.
type Assigner struct {
	cfg   Config
	users userCache
	pace  pacer
}

// NewAssigner validates cfg and returns an Assigner.
func NewAssigner(cfg Config) (*Assigner, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Assigner{cfg: cfg, users: newUserCache()}, nil
}

// job is the state of one delivery being worked.
type job struct {
	msg      wabatype.Message
	ev       events.Shared
	id       string
	business string
	tasks    []string
	userID   string
	bo       *backoff.ExponentialBackOff
	log      jobLog
	// lastErr is the last error a Graph call of this delivery returned (the
	// breaker's refusal is not one): what a retries_exhausted event names.
	lastErr error
}

// Handle works one delivery and returns what should become of it. It never
// panics on input and never returns without a verdict.
func (a *Assigner) Handle(ctx context.Context, m wabatype.Message) wabatype.Outcome {
	if m.Subject == a.cfg.UnsharedSubject {
		return a.unshared(m)
	}
	j, err := a.newJob(m)
	if err != nil {
		j.log.Warn("invalid event", "reason", err.Error())
		return j.finish(a.fail(j, events.KindInvalidEvent, err))
	}
	return j.finish(a.work(ctx, j))
}

// Key is the WABA a delivery is about, "" when it names none: the lease
// key under which the consumer works it.
func (a *Assigner) Key(m wabatype.Message) string { return events.PeekWabaID(m.Data) }

// unshared handles a waba.unshared event: no Graph call; the consumer
// records it in the ledger and acks it. An invalid one fails as any
// invalid event does.
func (a *Assigner) unshared(m wabatype.Message) wabatype.Outcome {
	ev, err := events.DecodeUnshared(m.Data)
	j := &job{msg: m, ev: events.Shared{ID: ev.ID, WabaID: ev.WabaID}, id: events.EventID(ev.ID, m.MsgID, m.StreamSeq)}
	j.log = jobLog{l: a.cfg.Logger, eventID: j.id, wabaID: ev.WabaID}
	if err != nil {
		j.log.Warn("invalid event", "reason", err.Error(), "subject", m.Subject)
		return j.finish(a.fail(j, events.KindInvalidEvent, err))
	}
	j.log.Info("WABA no longer shared: recorded", "reason", ev.Reason, "source", ev.Source)
	return j.finish(wabatype.Outcome{Verdict: wabatype.Recorded, Unshared: &ev})
}

// newJob decodes m; the error says why the event is invalid.
func (a *Assigner) newJob(m wabatype.Message) (*job, error) {
	ev, err := events.Decode(m.Data)
	j := &job{msg: m, ev: ev, id: events.EventID(ev.ID, m.MsgID, m.StreamSeq)}
	j.log = jobLog{l: a.cfg.Logger, eventID: j.id, wabaID: ev.WabaID}
	return j, err
}

// finish sets the event's ids on out, for logs and traces.
func (j *job) finish(out wabatype.Outcome) wabatype.Outcome {
	out.EventID = j.id
	if events.IsGraphID(j.ev.WabaID) {
		out.WabaID = j.ev.WabaID
	}
	return out
}

// plan sets the job's business and the tasks it wants.
func (a *Assigner) plan(j *job) {
	j.business = cmp.Or(j.ev.BusinessID, a.cfg.BusinessID)
	j.tasks = j.ev.Tasks
	if len(j.tasks) == 0 {
		j.tasks = a.cfg.Tasks
	}
}

// work runs a valid event and logs its outcome.
func (a *Assigner) work(ctx context.Context, j *job) wabatype.Outcome {
	a.plan(j)
	j.bo = a.newBackoff()

	out := a.assign(ctx, j)
	switch out.Verdict {
	case wabatype.Done:
		j.log.Info("assignment verified", "system_user_id", j.userID, "tasks", j.tasks,
			"already_assigned", out.Succeeded.AlreadyAssigned, "attempts", j.msg.Delivery)
	case wabatype.Failed:
		j.log.Warn("assignment failed", append(errAttrs(out.Err), "kind", out.Failed.Error.Kind)...)
	case wabatype.RetryLater:
		j.log.Info("retrying later", append(errAttrs(out.Err), "delay", out.Delay, "delivery", j.msg.Delivery)...)
	case wabatype.Paused:
		j.log.Warn("graph unavailable, pausing", append(errAttrs(out.Err), "reason", out.Reason.String())...)
	}
	return out
}

// assign runs the steps README lists ("How it works"): resolve, read, assign,
// verify. The consumer holds the WABA's lease around it, so no other worker
// writes this WABA's assignment meanwhile; verification still converges
// when something else (an operator, a script) changes the tasks between the
// read and the read-back.
func (a *Assigner) assign(ctx context.Context, j *job) wabatype.Outcome {
	userID, err := a.systemUser(ctx, j)
	if err != nil {
		return a.judge(j, err)
	}
	j.userID = userID

	held, err := a.heldTasks(ctx, j)
	if err != nil {
		return a.judge(j, err)
	}
	if containsAll(held, j.tasks) {
		return a.succeed(j, true, held)
	}

	err = a.post(ctx, j, unionTasks(held, j.tasks))
	if err != nil {
		// Meta may answer code 100 for "already assigned": verify before
		// judging, and keep the POST's error if verification disagrees.
		var ge *graph.Error
		if !errors.As(err, &ge) || ge.Code != 100 {
			return a.judge(j, err)
		}
		final, ok, verr := a.converge(ctx, j, held)
		if verr != nil || !ok {
			return a.judge(j, err)
		}
		return a.succeed(j, true, final)
	}
	final, ok, err := a.converge(ctx, j, held)
	switch {
	case err != nil:
		return a.judge(j, err)
	case !ok:
		return a.fail(j, events.KindVerificationFailed,
			fmt.Errorf("system user %s does not hold %v on WABA %s after the assignment (holds %v)",
				userID, j.tasks, j.ev.WabaID, final))
	}
	return a.succeed(j, false, final)
}

// post sets the user's tasks on the WABA: Meta's POST replaces the task set,
// so tasks must be the whole set the user is to hold.
func (a *Assigner) post(ctx context.Context, j *job, tasks []string) error {
	return a.call(ctx, j, func(ctx context.Context) error {
		return a.cfg.Graph.AssignUser(ctx, j.ev.WabaID, j.userID, tasks)
	})
}

// heldTasks returns the tasks the system user holds on the WABA.
func (a *Assigner) heldTasks(ctx context.Context, j *job) ([]string, error) {
	var held []string
	err := a.call(ctx, j, func(ctx context.Context) error {
		u, found, err := a.cfg.Graph.FindAssignedUser(ctx, j.ev.WabaID, j.business, j.userID)
		if found {
			held = u.Tasks
		}
		return err
	})
	return held, err
}

// converge reads the assignment back after a POST made on top of before
// (the tasks held just before it) until the user holds every wanted task
// and every task of before, within the delivery's budget; it returns the
// final read and whether it converged.
//
// A read that still shows before is taken as Meta's replicas lagging: it
// is read again, not posted again (assignments can take a moment to show).
// A read that shows anything else means someone else set the tasks in
// between: the union of what is held now and what is wanted is posted, and
// that state becomes the one to hold on to.
func (a *Assigner) converge(ctx context.Context, j *job, before []string) ([]string, bool, error) {
	for {
		held, err := a.heldTasks(ctx, j)
		if err != nil {
			return held, false, err
		}
		if containsAll(held, j.tasks) && containsAll(held, before) {
			return held, true, nil
		}
		wait := j.bo.NextBackOff()
		if wait == backoff.Stop {
			return held, false, nil
		}
		if sameTasks(held, before) {
			j.log.Debug("assignment not visible yet", "wait", wait)
			if err := timeutil.Sleep(ctx, wait); err != nil {
				return held, false, err
			}
			continue
		}
		union := unionTasks(held, j.tasks)
		j.log.Info("tasks changed under the assignment, posting the union again",
			"held_before", before, "held_now", held, "posting", union)
		if err := timeutil.Sleep(ctx, wait); err != nil {
			return held, false, err
		}
		if err := a.post(ctx, j, union); err != nil {
			return held, false, err
		}
		before = held
	}
}

// call runs one Graph operation through the breaker, retrying transient
// failures with the delivery's backoff. It returns a *retryLater when the
// budget is spent.
func (a *Assigner) call(ctx context.Context, j *job, op func(context.Context) error) error {
	for {
		if err := a.pace.wait(ctx, j.bo.GetElapsedTime(), a.cfg.RetryMaxElapsed); err != nil {
			return err
		}
		err := a.cfg.Breaker.Do(func() error {
			err := op(ctx)
			if err != nil {
				j.lastErr = err
			}
			return err
		})
		class := graph.Classify(err)
		if !class.Retryable() {
			return err
		}
		hint := graph.RetryAfter(err)
		if class == graph.ClassRateLimited && hint > 0 {
			a.pace.hold(hint)
		}
		wait := j.bo.NextBackOff()
		if wait == backoff.Stop || hint > 0 && j.bo.GetElapsedTime()+hint > a.cfg.RetryMaxElapsed {
			return &retryLater{err: err, after: max(hint, a.cfg.RetryMax)}
		}
		wait = max(wait, hint)
		j.log.Debug("graph call failed, retrying", append(errAttrs(err), "wait", wait)...)
		if err := timeutil.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// retryLater says the delivery's retry budget is spent.
type retryLater struct {
	err   error
	after time.Duration
}

func (r *retryLater) Error() string {
	return fmt.Sprintf("retry budget spent, next try in %s: %v", r.after, r.err)
}
func (r *retryLater) Unwrap() error { return r.err }

// judge turns a step's error into an Outcome.
func (a *Assigner) judge(j *job, err error) wabatype.Outcome {
	var rl *retryLater
	switch {
	case errors.As(err, &rl):
		if j.msg.Last() {
			return a.fail(j, events.KindRetriesExhausted, err)
		}
		return wabatype.Outcome{Verdict: wabatype.RetryLater, Delay: rl.after, Err: err}
	case errors.Is(err, breaker.ErrOpen):
		if j.lastErr != nil {
			// The consumer gives this cause to GiveUp.
			err = fmt.Errorf("%w; last Graph error: %w", err, j.lastErr)
		}
		return wabatype.Outcome{Verdict: wabatype.Paused, Reason: wabatype.PauseBreaker, Delay: a.cfg.Breaker.OpenTimeout(), Err: err}
	}
	switch graph.Classify(err) {
	case graph.ClassCanceled:
		// The worker is stopping: give the event back at once.
		return wabatype.Outcome{Verdict: wabatype.RetryLater, Err: err}
	case graph.ClassCredentials:
		return wabatype.Outcome{Verdict: wabatype.Paused, Reason: wabatype.PauseCredentials, Delay: a.cfg.CredentialsDelay, Err: err}
	case graph.ClassTransient, graph.ClassRateLimited:
		// Only reachable through a paced wait that outlasts the budget.
		if j.msg.Last() {
			return a.fail(j, events.KindRetriesExhausted, err)
		}
		return wabatype.Outcome{Verdict: wabatype.RetryLater, Delay: max(graph.RetryAfter(err), a.cfg.RetryMax), Err: err}
	}
	return a.fail(j, events.KindPermanent, err)
}

func (a *Assigner) succeed(j *job, already bool, held []string) wabatype.Outcome {
	return wabatype.Outcome{Verdict: wabatype.Done, Succeeded: &events.Succeeded{
		EventID:         j.id,
		WabaID:          j.ev.WabaID,
		SystemUserID:    j.userID,
		Tasks:           j.tasks,
		HeldTasks:       slices.Clone(held),
		AlreadyAssigned: already,
		Attempts:        j.msg.Delivery,
		CompletedAt:     a.cfg.Now().UTC(),
	}}
}

func (a *Assigner) fail(j *job, kind string, err error) wabatype.Outcome {
	f := &events.Failed{
		EventID:      j.id,
		WabaID:       j.ev.WabaID,
		SystemUserID: j.userID,
		Tasks:        j.tasks,
		Attempts:     j.msg.Delivery,
		FailedAt:     a.cfg.Now().UTC(),
		Error:        events.Failure{Kind: kind, Message: err.Error(), Retryable: kind == events.KindRetriesExhausted},
	}
	f.SetEvent(j.msg.Data)
	var ie *events.InvalidError
	if errors.As(err, &ie) {
		f.Error.Message = ie.Reason
	}
	var ge *graph.Error
	if errors.As(err, &ge) {
		code, sub := ge.Code, ge.Subcode
		f.Error.GraphCode, f.Error.GraphSubcode = &code, &sub
		f.Error.FBTraceID = ge.FBTraceID
		f.Error.Message = ge.Message
		if f.Error.Message == "" {
			f.Error.Message = ge.Error()
		}
	}
	if kind == events.KindRetriesExhausted {
		f.Error.Message = exhaustedMessage(err)
	}
	return wabatype.Outcome{Verdict: wabatype.Failed, Failed: f, Err: err}
}

// exhaustedMessage says why a delivery ran out and names the last error
// Graph gave it: the operation, the HTTP status, and Graph's message or an
// excerpt of a body that was not Graph's JSON (never a token: the graph
// client redacts them).
func exhaustedMessage(err error) string {
	var last string
	var ge *graph.Error
	var te *graph.TransportError
	switch {
	case errors.As(err, &ge):
		last = ge.Error()
		if ge.Message != "" || ge.Code != 0 {
			// "graph <op>: <message>": put the status after the operation,
			// as Error does for a body that is not Graph's JSON.
			last = strings.Replace(last, ": ", fmt.Sprintf(": HTTP %d: ", ge.HTTPStatus), 1)
		}
	case errors.As(err, &te):
		last = te.Error()
	default:
		return err.Error()
	}
	why := "the last delivery spent its retry budget"
	if errors.Is(err, breaker.ErrOpen) {
		why = breaker.ErrOpen.Error()
	}
	return why + "; last Graph error: " + last
}

// Probe asks Graph whether work may resume, with the cheap
// GET /{business-id}/system_users?limit=1 for each token. It goes through the
// breaker, so a successful probe closes a half-open breaker. It returns
// NoPause when both tokens work; else why intake stays paused (the token is
// rejected, or Graph fails) and the cause.
func (a *Assigner) Probe(ctx context.Context) (wabatype.PauseReason, error) {
	for _, admin := range []bool{false, true} {
		err := a.cfg.Breaker.Do(func() error { return a.cfg.Graph.Probe(ctx, a.cfg.BusinessID, admin) })
		switch {
		case err == nil:
		case graph.Classify(err) == graph.ClassCredentials:
			return wabatype.PauseCredentials, err
		default:
			return wabatype.PauseBreaker, err
		}
	}
	return wabatype.NoPause, nil
}

// Paused reports, without calling Graph, whether Graph calls are refused
// right now (the breaker is open), and how soon to ask again: a probe would
// be refused too until the breaker half-opens.
func (a *Assigner) Paused() (wabatype.PauseReason, time.Duration) {
	if a.cfg.Breaker.State() != breaker.Open {
		return wabatype.NoPause, 0
	}
	return wabatype.PauseBreaker, min(max(a.cfg.Breaker.OpenTimeout()/20, 10*time.Millisecond), time.Second)
}

// GiveUp is the outcome of a delivery the consumer stops holding through a
// pause: a failed event of kind retries_exhausted that names cause.
func (a *Assigner) GiveUp(m wabatype.Message, cause error) wabatype.Outcome {
	j, _ := a.newJob(m)
	a.plan(j)
	j.userID = a.cfg.SystemUserID
	if j.userID == "" {
		j.userID, _ = a.users.get(j.business)
	}
	j.log.Warn("assignment failed", append(errAttrs(cause), "kind", events.KindRetriesExhausted)...)
	return j.finish(a.fail(j, events.KindRetriesExhausted, cause))
}

func (a *Assigner) newBackoff() *backoff.ExponentialBackOff {
	return backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(a.cfg.RetryInitial),
		backoff.WithMaxInterval(a.cfg.RetryMax),
		backoff.WithMaxElapsedTime(a.cfg.RetryMaxElapsed),
		backoff.WithMultiplier(2),
		backoff.WithRandomizationFactor(0.5),
	)
}

// errAttrs are the log attributes of an error: Graph's code, subcode and
// fbtrace_id when Graph answered.
func errAttrs(err error) []any {
	if err == nil {
		return nil
	}
	attrs := []any{"error", err.Error()}
	var ge *graph.Error
	if errors.As(err, &ge) {
		attrs = append(attrs, "graph_code", ge.Code, "graph_subcode", ge.Subcode, "fbtrace_id", ge.FBTraceID)
	}
	return attrs
}

// sameTasks reports whether a and b hold the same tasks, in any order.
func sameTasks(a, b []string) bool { return containsAll(a, b) && containsAll(b, a) }

func containsAll(held, want []string) bool {
	for _, t := range want {
		if !slices.Contains(held, t) {
			return false
		}
	}
	return true
}

// unionTasks returns held followed by the wanted tasks it lacks: the worker
// never removes a task the user already holds.
func unionTasks(held, want []string) []string {
	out := slices.Clone(held)
	for _, t := range want {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}
