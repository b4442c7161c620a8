package graph

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestStaticToken(t *testing.T) {
	t.Parallel()
	if tok, err := StaticToken("abc").Token(t.Context()); tok != "abc" || err != nil {
		t.Errorf("Token: %q, %v", tok, err)
	}
	if _, err := StaticToken("").Token(t.Context()); err == nil {
		t.Error("an empty StaticToken yields no error")
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestFileTokenRotation(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "token")
	writeFile(t, path, "  EAAGfirst\n")
	ts := FileToken(path)
	for range 2 {
		if tok, err := ts.Token(ctx); tok != "EAAGfirst" || err != nil {
			t.Fatalf("Token: %q, %v", tok, err)
		}
	}

	// Rotated to a token of another size.
	writeFile(t, path, "EAAGsecond-longer\n")
	if tok, err := ts.Token(ctx); tok != "EAAGsecond-longer" || err != nil {
		t.Fatalf("after rotation: %q, %v", tok, err)
	}

	// Rotated to a token of the same size: the modification time tells.
	writeFile(t, path, "EAAGsecond-LONGER\n")
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	if tok, err := ts.Token(ctx); tok != "EAAGsecond-LONGER" || err != nil {
		t.Fatalf("after same-size rotation: %q, %v", tok, err)
	}

	// Replaced by another file, as a Kubernetes secret volume does (rename).
	tmp := path + ".new"
	writeFile(t, tmp, "EAAGthird-token-x\n")
	if err := os.Chtimes(tmp, later, later); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	if tok, err := ts.Token(ctx); tok != "EAAGthird-token-x" || err != nil {
		t.Fatalf("after replacement: %q, %v", tok, err)
	}
}

func TestFileTokenErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	writeFile(t, empty, " \n\t\n")
	large := filepath.Join(dir, "large")
	writeFile(t, large, strings.Repeat("EAAGsecretcontent", 5000))
	gone := filepath.Join(dir, "gone")
	tests := []struct {
		name string
		path string
		want string
	}{
		{"empty file", empty, "empty"},
		{"missing file", gone, "no such file"},
		{"directory", dir, "not a regular file"},
		{"too large", large, "larger than"},
		{"empty path", "", "empty path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tok, err := FileToken(tt.path).Token(t.Context())
			if err == nil || tok != "" {
				t.Fatalf("Token: %q, %v", tok, err)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.path) {
				t.Errorf("error %q does not name the path %q and say %q", err, tt.path, tt.want)
			}
			if strings.Contains(err.Error(), "EAAG") {
				t.Errorf("error %q holds the file's content", err)
			}
		})
	}
}

func TestFileTokenErrorAfterSuccess(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "token")
	writeFile(t, path, "EAAGvalue")
	ts := FileToken(path)
	if _, err := ts.Token(ctx); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "")
	if tok, err := ts.Token(ctx); err == nil {
		t.Errorf("emptied file: %q, want an error (not the old token)", tok)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if tok, err := ts.Token(ctx); err == nil {
		t.Errorf("removed file: %q, want an error (not the old token)", tok)
	}
	writeFile(t, path, "EAAGback")
	if tok, err := ts.Token(ctx); tok != "EAAGback" || err != nil {
		t.Errorf("restored file: %q, %v", tok, err)
	}
}

func TestFileTokenConcurrent(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "token")
	writeFile(t, path, "EAAGconcurrent")
	ts := FileToken(path)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if tok, err := ts.Token(ctx); tok != "EAAGconcurrent" || err != nil {
					t.Errorf("Token: %q, %v", tok, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestValidToken(t *testing.T) {
	t.Parallel()
	for tok, want := range map[string]bool{
		"EAAGabc123": true, "a|b-c_d.e~": true, "": false, "a b": false, "a\nb": false, "a\x00": false, "é": false, "a\x7f": false,
	} {
		if validToken(tok) != want {
			t.Errorf("validToken(%q) = %v", tok, !want)
		}
	}
}
