package schemas

import (
	"bytes"
	"fmt"
	"io/fs"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// baseURL is the $id prefix of the schemas.
const baseURL = "https://github.com/wabaworker/waba-worker/schemas/"

var compiled = sync.OnceValues(func() (map[string]*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	names := []string{Shared, Succeeded, Failed, Unshared, WebhookChange, State}
	for _, n := range names {
		b, err := fs.ReadFile(FS, n)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		if err := c.AddResource(baseURL+n, doc); err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
	}
	out := make(map[string]*jsonschema.Schema, len(names))
	for _, n := range names {
		s, err := c.Compile(baseURL + n)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		out[n] = s
	}
	return out, nil
})

// Validate checks doc against the schema in file name (Shared, Succeeded,
// Failed, Unshared or WebhookChange). Formats such as date-time are asserted.
func Validate(name string, doc []byte) error {
	all, err := compiled()
	if err != nil {
		return err
	}
	s, ok := all[name]
	if !ok {
		return fmt.Errorf("no schema %q", name)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return s.Validate(inst)
}
