package handlers

import (
	"context"
	"fmt"
	"sync"

	"github.com/wabaworker/waba-worker/internal/graph"
)

// userCache holds the system user id per business, resolved by name once per
// process. One lookup runs at a time, so a burst of events at start costs
// one walk through system_users, not one per event.
type userCache struct {
	lock chan struct{} // a mutex that a waiting caller can give up on
	mu   sync.RWMutex
	ids  map[string]string
}

func newUserCache() userCache {
	return userCache{lock: make(chan struct{}, 1), ids: map[string]string{}}
}

func (c *userCache) get(business string) (string, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	id, ok := c.ids[business]
	return id, ok
}

// UnknownSystemUserError says the configured system user name is not among the
// business's system users.
type UnknownSystemUserError struct {
	Name, Business string
}

func (e *UnknownSystemUserError) Error() string {
	return fmt.Sprintf("no system user named %q in business %s (check SYSTEM_USER_NAME and BUSINESS_ID)", e.Name, e.Business)
}

// CheckSystemUser resolves the system user of the configured business now,
// so that a SYSTEM_USER_NAME that names nobody stops the start instead of
// failing every event. It returns *UnknownSystemUserError when Graph says
// so, and Graph's error when Graph could not answer.
func (a *Assigner) CheckSystemUser(ctx context.Context) (string, error) {
	j := &job{business: a.cfg.BusinessID, bo: a.newBackoff(), log: jobLog{l: a.cfg.Logger}}
	return a.systemUser(ctx, j)
}

// systemUser returns the id of the system user to assign for the job's
// business: the configured id, or the one found by name.
func (a *Assigner) systemUser(ctx context.Context, j *job) (string, error) {
	if a.cfg.SystemUserID != "" {
		return a.cfg.SystemUserID, nil
	}
	if id, ok := a.users.get(j.business); ok {
		return id, nil
	}
	select {
	case a.users.lock <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-a.users.lock }()
	if id, ok := a.users.get(j.business); ok {
		return id, nil
	}
	name := a.cfg.SystemUserName
	var user graph.SystemUser
	var found bool
	err := a.call(ctx, j, func(ctx context.Context) (err error) {
		user, found, err = a.cfg.Graph.FindSystemUser(ctx, j.business, func(u graph.SystemUser) bool { return u.Name == name })
		return err
	})
	if err != nil {
		return "", fmt.Errorf("resolve system user %q: %w", name, err)
	}
	if !found {
		return "", &UnknownSystemUserError{Name: name, Business: j.business}
	}
	a.users.mu.Lock()
	a.users.ids[j.business] = user.ID
	a.users.mu.Unlock()
	j.log.Info("system user resolved", "system_user_id", user.ID, "name", name, "business_id", j.business)
	return user.ID, nil
}
