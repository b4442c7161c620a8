package graph

import (
	"context"
	"fmt"
	"net/url"
)

// OpListClientWABAs names GET /{business-id}/client_whatsapp_business_accounts
// (ListClientWABAs) in errors, Call records and metrics labels.
const OpListClientWABAs = "list_client_wabas"

// DefaultMaxClientWABAPages is the page cap of ListClientWABAs unless
// WithMaxClientWABAPages says otherwise: 1,000 pages, 100,000 WABAs at 100 a
// page. It is separate from WithMaxPages because the WABAs shared with a BSP
// are counted in thousands, where 100 pages of system users would mean a
// paging bug.
const DefaultMaxClientWABAPages = 1000

// ClientWABA is one entry of GET /{business-id}/client_whatsapp_business_accounts:
// a WABA owned by a customer and shared with the business.
type ClientWABA struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// WithMaxClientWABAPages caps the pages ListClientWABAs follows; a listing
// that needs more fails with ErrTooManyPages. Defaults to
// DefaultMaxClientWABAPages.
func WithMaxClientWABAPages(n int) Option {
	return func(c *Client) error {
		if n < 1 {
			return fmt.Errorf("graph: max client WABA pages %d: must be at least 1", n)
		}
		c.wabaMax = n
		return nil
	}
}

// ListClientWABAs lists the WABAs shared with a business
// (GET /{business-id}/client_whatsapp_business_accounts?fields=id,name) with
// the read token, calling fn with each page's WABAs in Graph's order, so that
// a caller holds one page at a time. limit is the page size, 1 to
// MaxPageSize; 0 means MaxPageSize (the fewest calls). Paging works as in
// the other listings: cursors on the client's own base URL, never paging.next,
// a guard against a repeating cursor, and a page cap (WithMaxClientWABAPages).
//
// When fn returns an error the listing stops and returns that error as it is.
// A listing that fails part way has called fn for the pages before; its error
// is the page's (*Error, *TransportError, ...), for Classify.
func (c *Client) ListClientWABAs(ctx context.Context, businessID string, limit int, fn func([]ClientWABA) error) error {
	const op = OpListClientWABAs
	if err := checkID(op, "business", businessID); err != nil {
		return err
	}
	if fn == nil {
		return fmt.Errorf("graph %s: page function is nil", op)
	}
	if limit < 0 || limit > MaxPageSize {
		return fmt.Errorf("graph %s: limit %d: want 0 to %d", op, limit, MaxPageSize)
	}
	if limit == 0 {
		limit = MaxPageSize
	}
	// list takes the page size and cap from the client; this listing has its
	// own. Client holds no lock, and the copy shares its header cache.
	lc := *c
	lc.pageSize = limit
	lc.maxPages = c.wabaMax
	var fnErr error
	err := list(ctx, &lc, op, businessID, "client_whatsapp_business_accounts",
		url.Values{"fields": {"id,name"}},
		func(page []ClientWABA) bool {
			fnErr = fn(page)
			return fnErr == nil
		})
	if err != nil {
		return err
	}
	return fnErr
}
