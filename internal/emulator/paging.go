package emulator

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strconv"
)

// Page sizes of Graph's cursor paging.
const (
	DefaultPageSize = 25
	MaxPageSize     = 100
)

type cursors struct {
	Before string `json:"before"`
	After  string `json:"after"`
}

type paging struct {
	Cursors  cursors `json:"cursors"`
	Previous string  `json:"previous,omitempty"`
	Next     string  `json:"next,omitempty"`
}

// page is the slice [lo:hi) of a listing to answer with.
type page struct {
	lo, hi int
	paging *paging
}

// cursor is a position in a listing: an offset, and how many of the empty
// pages due there (SetEmptyPages) were already served. Encoded opaquely.
type cursor struct{ offset, empties int }

func (c cursor) String() string {
	// The cursor text keeps its first name: cursors handed out stay valid.
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "graphtest:%d:%d", c.offset, c.empties))
}

func parseCursor(s string) (cursor, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, false
	}
	var c cursor
	if n, err := fmt.Sscanf(string(b), "graphtest:%d:%d", &c.offset, &c.empties); err != nil || n != 2 || c.offset < 0 || c.empties < 0 {
		return cursor{}, false
	}
	return c, true
}

// paginate picks the page of a listing of total items the request asks for
// (limit, after, before) and builds its paging object. Before each page of
// data it serves the configured number of empty pages.
func (s *Server) paginate(x *exchange, total int) (page, *response) {
	limit := DefaultPageSize
	if v := x.form.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return page{}, x.invalidParam("(#100) Param limit must be a non-negative integer")
		}
		if n > 0 {
			limit = min(n, MaxPageSize)
		}
	}
	at := cursor{}
	if v := x.form.Get("after"); v != "" {
		c, ok := parseCursor(v)
		if !ok {
			return page{}, x.invalidParam("(#100) Param after is not a valid cursor")
		}
		at = c
	} else if v := x.form.Get("before"); v != "" {
		c, ok := parseCursor(v)
		if !ok {
			return page{}, x.invalidParam("(#100) Param before is not a valid cursor")
		}
		at = cursor{offset: max(0, c.offset-limit)}
	}
	at.offset = min(at.offset, total)
	empties := int(s.emptyPages.Load())

	if at.empties < empties && (at.offset < total || total == 0) {
		// An empty page that still leads on.
		here := cursor{offset: at.offset, empties: at.empties + 1}
		return page{lo: at.offset, hi: at.offset, paging: &paging{
			Cursors: cursors{Before: at.String(), After: here.String()},
			Next:    x.pageURL("after", here.String(), limit),
		}}, nil
	}
	hi := min(at.offset+limit, total)
	if total == 0 {
		return page{}, nil // Meta answers {"data":[]} for an empty edge
	}
	pg := &paging{Cursors: cursors{
		Before: cursor{offset: at.offset, empties: empties}.String(),
		After:  cursor{offset: hi}.String(),
	}}
	if hi < total {
		pg.Next = x.pageURL("after", pg.Cursors.After, limit)
	}
	if at.offset > 0 {
		pg.Previous = x.pageURL("before", pg.Cursors.Before, limit)
	}
	return page{lo: at.offset, hi: hi, paging: pg}, nil
}

// pageURL is the full URL of another page on the emulator's own host: the
// request's query (as Meta does, an access_token in it is repeated) with
// limit and the cursor set.
func (x *exchange) pageURL(dir, cur string, limit int) string {
	q := url.Values{}
	for k, v := range x.query {
		if k != "after" && k != "before" {
			q[k] = v
		}
	}
	q.Set("limit", strconv.Itoa(limit))
	q.Set(dir, cur)
	scheme := "http"
	if x.r.TLS != nil || x.r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return scheme + "://" + x.r.Host + x.r.URL.Path + "?" + q.Encode()
}
