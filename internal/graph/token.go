package graph

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// StaticToken is a TokenSource that always yields the same token (or app
// secret). An empty StaticToken yields an error.
type StaticToken string

// Token returns t.
func (t StaticToken) Token(context.Context) (string, error) {
	if t == "" {
		return "", errors.New("empty token")
	}
	return string(t), nil
}

// maxTokenFileSize bounds what FileToken reads; a token is a few hundred
// bytes.
const maxTokenFileSize = 64 << 10

// FileToken is a TokenSource that reads the token from the file at path,
// trimmed of surrounding white space. It stats the file on every call and
// reads it again when it changed (another file, modification time or size),
// so that a rotated token (for example a Kubernetes secret) is picked up
// without a restart. A missing, unreadable or empty file is an error that
// names the path but never holds the file's content.
func FileToken(path string) TokenSource {
	return &fileToken{path: path}
}

type fileToken struct {
	path string

	mu    sync.Mutex
	info  os.FileInfo // of the file value was read from
	value string
}

func (f *fileToken) Token(ctx context.Context) (string, error) {
	if f.path == "" {
		return "", errors.New("token file: empty path")
	}
	fi, err := os.Stat(f.path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.info != nil && os.SameFile(f.info, fi) && fi.ModTime().Equal(f.info.ModTime()) && fi.Size() == f.info.Size() {
		return f.value, nil
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("token file %q: not a regular file", f.path)
	}
	if fi.Size() > maxTokenFileSize {
		return "", fmt.Errorf("token file %q: larger than %d bytes", f.path, maxTokenFileSize)
	}
	file, err := os.Open(f.path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, maxTokenFileSize+1))
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	if len(data) > maxTokenFileSize {
		return "", fmt.Errorf("token file %q: larger than %d bytes", f.path, maxTokenFileSize)
	}
	v := strings.TrimSpace(string(data))
	if v == "" {
		return "", fmt.Errorf("token file %q: empty", f.path)
	}
	f.info, f.value = fi, v
	return v, nil
}

// validToken reports whether tok can travel in an Authorization header: one
// or more visible ASCII characters, no spaces.
func validToken(tok string) bool {
	if tok == "" {
		return false
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] < 0x21 || tok[i] > 0x7e {
			return false
		}
	}
	return true
}

// appSecretProof is Meta's appsecret_proof: the hex HMAC-SHA256 of
// token + "|" + unixTime, keyed by the app secret.
func appSecretProof(secret, token, unixTime string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(token))
	m.Write([]byte("|"))
	m.Write([]byte(unixTime))
	return hex.EncodeToString(m.Sum(nil))
}

// credential fetches a token (or the app secret) from src for one call.
// A failure is a credentialsError (ClassCredentials), unless the caller's
// context ended.
func credential(ctx context.Context, op, what string, src TokenSource, header bool) (string, error) {
	v, err := src.Token(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return "", canceled(ctx, op)
		}
		return "", &credentialsError{op: op, what: what, err: err}
	}
	switch {
	case v == "":
		return "", &credentialsError{op: op, what: what, err: errors.New("empty")}
	case header && !validToken(v):
		return "", &credentialsError{op: op, what: what, err: errors.New("holds characters not allowed in an HTTP header (white space or control characters)")}
	}
	return v, nil
}
