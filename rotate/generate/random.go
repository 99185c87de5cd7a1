package generate

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
)

// maxBytesLength bounds the bytes generator's length: 64 KiB of key material is far beyond
// any need, and its base64 form still fits a Secret (at most 1 MiB) many times over.
const maxBytesLength = 64 << 10

// randomBytes makes length random bytes in an encoding.
type randomBytes struct {
	length   int
	encoding string
}

func newBytes(p *params) (Generator, error) {
	return &randomBytes{
		length:   p.integer("length", 32, 1, maxBytesLength),
		encoding: p.choice("encoding", "base64", "hex", "base64", "base64url", "raw"),
	}, nil
}

func (g *randomBytes) Keys(key string) []string { return single(key) }

func (g *randomBytes) Generate(ctx context.Context, key string) (map[string][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	raw := make([]byte, g.length)
	_, _ = rand.Read(raw) // never fails (see intn)
	var out []byte
	switch g.encoding {
	case "raw":
		return map[string][]byte{key: raw}, nil
	case "hex":
		out = hex.AppendEncode(nil, raw)
	case "base64":
		out = base64.StdEncoding.AppendEncode(nil, raw)
	case "base64url":
		out = base64.RawURLEncoding.AppendEncode(nil, raw)
	}
	clear(raw)
	return map[string][]byte{key: out}, nil
}

// randomUUID makes random (version 4) UUIDs.
type randomUUID struct{}

func newUUID(*params) (Generator, error) { return randomUUID{}, nil }

func (randomUUID) Keys(key string) []string { return single(key) }

func (randomUUID) Generate(ctx context.Context, key string) (map[string][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40 // version 4 (RFC 9562 section 5.4)
	u[8] = u[8]&0x3f | 0x80 // variant 10
	out := make([]byte, 36)
	hex.Encode(out[0:8], u[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], u[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], u[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], u[8:10])
	out[23] = '-'
	hex.Encode(out[24:], u[10:])
	clear(u[:])
	return map[string][]byte{key: out}, nil
}
