package lease

// Waiting is how many callers of key wait behind the one that has its turn.
func (l *Locker) Waiting(key string) int { return l.waiting(key) }
