package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
)

// Roles of a system user, as GET /{business-id}/system_users reports them.
const (
	RoleAdmin    = "ADMIN"
	RoleEmployee = "EMPLOYEE"
)

// Seed is the emulator's starting world: the businesses it knows, their
// system users and tokens, and the WABAs shared with them. It is plain data,
// JSON-tagged so that a seed file (see LoadSeed) can describe it.
type Seed struct {
	// AppSecret, when set, makes every request carry appsecret_proof and
	// appsecret_time. Defaults to "" (no proof required).
	AppSecret string `json:"app_secret,omitempty"`
	// Businesses are the business portfolios (the BSP's, usually one).
	Businesses []Business `json:"businesses"`
}

// Business is one business portfolio.
type Business struct {
	ID   string `json:"id"`             // digits
	Name string `json:"name,omitempty"` // informational
	// SystemUsers are listed by GET /{id}/system_users, after the filler
	// users (see OtherUsers), in this order.
	SystemUsers []SystemUser `json:"system_users"`
	// WABAs are the WhatsApp Business Accounts shared with this business.
	// A WABA may be listed under several businesses (shared with each).
	WABAs []WABA `json:"wabas,omitempty"`
	// OtherUsers adds that many filler system users (role EMPLOYEE, no
	// token, named "Other User N") listed before SystemUsers on
	// system_users pages, and assigned with task MANAGE to every WABA of the
	// business so they come first on assigned_users pages too. Clients must
	// follow paging, and must match the user by id, not by task. At most
	// 10000. Defaults to 0.
	OtherUsers int `json:"other_users,omitempty"`
}

// SystemUser is a system user of a business.
type SystemUser struct {
	ID   string `json:"id"`   // digits, unique across the seed
	Name string `json:"name"` // required
	Role string `json:"role"` // RoleAdmin or RoleEmployee
	// Token, when set, is an access token of this user. More tokens can be
	// added with Server.AddToken.
	Token string `json:"token,omitempty"`
}

// WABA is a WhatsApp Business Account shared with a business.
type WABA struct {
	ID   string `json:"id"`             // digits
	Name string `json:"name,omitempty"` // informational
	// Assigned holds pre-existing assignments: user id -> tasks. Each user
	// must be a system user of the business that lists this WABA.
	Assigned map[string][]string `json:"assigned,omitempty"`
}

// LoadSeed decodes a JSON seed file strictly (unknown fields and trailing
// data are errors) and validates it.
func LoadSeed(r io.Reader) (Seed, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var s Seed
	if err := dec.Decode(&s); err != nil {
		return Seed{}, fmt.Errorf("emulator: decode seed: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Seed{}, errors.New("emulator: decode seed: trailing data after the seed object")
	}
	if err := s.Validate(); err != nil {
		return Seed{}, err
	}
	return s, nil
}

// LoadSeedFile reads a seed file with LoadSeed.
func LoadSeedFile(path string) (Seed, error) {
	f, err := os.Open(path)
	if err != nil {
		return Seed{}, fmt.Errorf("emulator: %w", err)
	}
	defer f.Close()
	s, err := LoadSeed(f)
	if err != nil {
		return Seed{}, fmt.Errorf("%w (in %s)", err, path)
	}
	return s, nil
}

// Validate reports the first problem that would make New refuse the seed.
func (s Seed) Validate() error {
	bizIDs := map[string]bool{}
	userIDs := map[string]string{} // user id -> business id
	tokens := map[string]bool{}
	for i, b := range s.Businesses {
		where := fmt.Sprintf("businesses[%d]", i)
		if !isDigits(b.ID) {
			return fmt.Errorf("emulator: seed %s: id %q must be digits", where, b.ID)
		}
		if bizIDs[b.ID] {
			return fmt.Errorf("emulator: seed %s: duplicate business id %s", where, b.ID)
		}
		bizIDs[b.ID] = true
		if b.OtherUsers < 0 || b.OtherUsers > maxOtherUsers {
			return fmt.Errorf("emulator: seed %s: other_users %d out of range 0..%d", where, b.OtherUsers, maxOtherUsers)
		}
		for j, u := range b.SystemUsers {
			uw := fmt.Sprintf("%s.system_users[%d]", where, j)
			if !isDigits(u.ID) {
				return fmt.Errorf("emulator: seed %s: id %q must be digits", uw, u.ID)
			}
			if _, dup := userIDs[u.ID]; dup {
				return fmt.Errorf("emulator: seed %s: duplicate user id %s", uw, u.ID)
			}
			userIDs[u.ID] = b.ID
			if u.Name == "" {
				return fmt.Errorf("emulator: seed %s: name is required", uw)
			}
			if u.Role != RoleAdmin && u.Role != RoleEmployee {
				return fmt.Errorf("emulator: seed %s: role %q must be %s or %s", uw, u.Role, RoleAdmin, RoleEmployee)
			}
			if u.Token != "" {
				if tokens[u.Token] {
					return fmt.Errorf("emulator: seed %s: duplicate token", uw)
				}
				tokens[u.Token] = true
			}
		}
		for k := range b.OtherUsers {
			id := fillerID(i, k)
			if _, dup := userIDs[id]; dup {
				return fmt.Errorf("emulator: seed %s: filler user id %s collides with a system user", where, id)
			}
			userIDs[id] = b.ID
		}
	}
	for i, b := range s.Businesses {
		for j, w := range b.WABAs {
			ww := fmt.Sprintf("businesses[%d].wabas[%d]", i, j)
			if !isDigits(w.ID) {
				return fmt.Errorf("emulator: seed %s: id %q must be digits", ww, w.ID)
			}
			if bizIDs[w.ID] || userIDs[w.ID] != "" {
				return fmt.Errorf("emulator: seed %s: id %s is already a business or user id", ww, w.ID)
			}
			for uid, tasks := range w.Assigned {
				if userIDs[uid] != b.ID {
					return fmt.Errorf("emulator: seed %s: assigned user %s is not a system user of business %s", ww, uid, b.ID)
				}
				if _, msg := normalizeTasks(tasks); msg != "" {
					return fmt.Errorf("emulator: seed %s: user %s: %s", ww, uid, msg)
				}
			}
		}
	}
	return nil
}

const maxOtherUsers = 10000

// fillerID is the id of the k-th filler user of the i-th seeded business:
// 16 digits, like Meta's system user ids.
func fillerID(bizIndex, k int) string {
	return fmt.Sprintf("9%02d%013d", bizIndex%100, k+1)
}

func isDigits(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// The world of DefaultSeed, for `worker dev`, docker-compose and tests.
const (
	DevBusinessID     = "100200300"        // the BSP's business portfolio
	DevSystemUserID   = "1972555232742222" // ADMIN system user
	DevSystemUserName = "waba-worker"      // its name, for SYSTEM_USER_NAME
	DevAdminToken     = "dev-admin-token"  // its token (reads and the POST)
	DevReaderUserID   = "1972555232743333" // EMPLOYEE system user "waba-reader"
	DevReadToken      = "dev-read-token"   // its token: reads only, POST gets (#200)
	DevFirstWABAID    = "102290129340398"  // first of DevWABACount sequential WABA ids
	DevWABACount      = 21
)

// DevWABAIDs returns the ids of DefaultSeed's WABAs: DevFirstWABAID and the
// next 20 integers (102290129340398 ... 102290129340418).
func DevWABAIDs() []string {
	first, _ := strconv.ParseUint(DevFirstWABAID, 10, 64)
	ids := make([]string, DevWABACount)
	for i := range ids {
		ids[i] = strconv.FormatUint(first+uint64(i), 10)
	}
	return ids
}

// DefaultSeed is the world of `worker dev`: business DevBusinessID ("Dev
// BSP") with the ADMIN system user DevSystemUserID named "waba-worker"
// (token "dev-admin-token"), the EMPLOYEE system user DevReaderUserID named
// "waba-reader" (token "dev-read-token"), and the 21 WABAs of DevWABAIDs
// ("Dev Customer 01" ...) shared with it, none assigned yet. No app secret,
// no filler users. Each call returns a fresh copy.
func DefaultSeed() Seed {
	ids := DevWABAIDs()
	wabas := make([]WABA, len(ids))
	for i, id := range ids {
		wabas[i] = WABA{ID: id, Name: fmt.Sprintf("Dev Customer %02d", i+1)}
	}
	return Seed{
		Businesses: []Business{{
			ID:   DevBusinessID,
			Name: "Dev BSP",
			SystemUsers: []SystemUser{
				{ID: DevSystemUserID, Name: DevSystemUserName, Role: RoleAdmin, Token: DevAdminToken},
				{ID: DevReaderUserID, Name: "waba-reader", Role: RoleEmployee, Token: DevReadToken},
			},
			WABAs: wabas,
		}},
	}
}
