package generate

import (
	"context"
	"unicode"
	"unicode/utf8"
)

// The character classes of passwords, as External Secrets Operator's Password generator has
// them.
const (
	lowerLetters = "abcdefghijklmnopqrstuvwxyz"
	upperLetters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	digitChars   = "0123456789"
	// DefaultSymbolCharacters are the symbols a password draws from unless symbolCharacters
	// says otherwise.
	DefaultSymbolCharacters = "~!@#$%^&*()_+`-={}|[]\\:\"<>?,./"
)

// maxPasswordLength bounds length: far beyond any password, short of a memory problem.
const maxPasswordLength = 4096

// password makes passwords of exactly digits digits and symbols symbols, the rest letters, in
// a uniformly random order.
type password struct {
	length, digits, symbols int
	letterSet, digitSet     []rune
	symbolSet               []rune
	allowRepeat             bool
}

func newPassword(p *params) (Generator, error) {
	length := p.integer("length", 24, 1, maxPasswordLength)
	digits := p.integer("digits", length/4, 0, maxPasswordLength)
	symbols := p.integer("symbols", length/4, 0, maxPasswordLength)
	symbolChars := p.str("symbolCharacters", DefaultSymbolCharacters)
	noUpper := p.boolean("noUpper", false)
	allowRepeat := p.boolean("allowRepeat", false)
	if p.err != nil {
		return nil, nil
	}
	g := &password{length: length, digits: digits, symbols: symbols, allowRepeat: allowRepeat,
		letterSet: []rune(lowerLetters), digitSet: []rune(digitChars)}
	if !noUpper {
		g.letterSet = append(g.letterSet, []rune(upperLetters)...)
	}
	g.symbolSet = symbolSet(p, symbolChars)
	if p.err != nil {
		return nil, nil
	}
	dflt := func(name string) string {
		if p.has(name) {
			return ""
		}
		return " (the default, a quarter of length)"
	}
	letters := length - digits - symbols
	switch {
	case digits+symbols > length:
		param := "digits"
		if p.has("symbols") && !p.has("digits") {
			param = "symbols"
		}
		p.fail(param, "digits=%d and symbols=%d add up to more than length=%d", digits, symbols, length)
	case symbols > 0 && len(g.symbolSet) == 0:
		p.fail("symbolCharacters", "is empty, so symbols=%d cannot be drawn from it", symbols)
	case allowRepeat:
	case digits > len(g.digitSet):
		p.fail("digits", "%d%s is more than the %d distinct digits: set allowRepeat=true or fewer digits",
			digits, dflt("digits"), len(g.digitSet))
	case symbols > len(g.symbolSet):
		p.fail("symbols", "%d%s is more than the %d distinct symbolCharacters: set allowRepeat=true or fewer symbols",
			symbols, dflt("symbols"), len(g.symbolSet))
	case letters > len(g.letterSet):
		p.fail("length", "%d leaves %d letters, more than the %d distinct letters: set allowRepeat=true, a shorter length or more digits and symbols",
			length, letters, len(g.letterSet))
	}
	return g, nil
}

// symbolSet checks the symbolCharacters parameter and returns its characters: valid UTF-8,
// each character once, none a letter, digit or space (a symbol that is also a letter or a
// digit would break the exact counts of each; spaces at an end of a password get lost).
func symbolSet(p *params, s string) []rune {
	if !utf8.ValidString(s) {
		p.fail("symbolCharacters", "is not valid UTF-8")
		return nil
	}
	set := []rune(s)
	seen := make(map[rune]bool, len(set))
	for _, r := range set {
		switch {
		case unicode.IsLetter(r) || unicode.IsNumber(r):
			p.fail("symbolCharacters", "%q is a letter or a digit, not a symbol", r)
		case unicode.IsSpace(r) || !unicode.IsPrint(r):
			p.fail("symbolCharacters", "%q is a space or not printable", r)
		case seen[r]:
			p.fail("symbolCharacters", "%q occurs more than once", r)
		}
		seen[r] = true
	}
	return set
}

func (g *password) Keys(key string) []string { return single(key) }

func (g *password) Generate(ctx context.Context, key string) (map[string][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	distinct := !g.allowRepeat
	r := make([]rune, 0, g.length)
	r = pick(r, g.digitSet, g.digits, distinct)
	r = pick(r, g.symbolSet, g.symbols, distinct)
	r = pick(r, g.letterSet, g.length-g.digits-g.symbols, distinct)
	shuffle(r)
	b := make([]byte, 0, g.length*utf8.UTFMax)
	for _, c := range r {
		b = utf8.AppendRune(b, c)
	}
	clear(r)
	return map[string][]byte{key: b}, nil
}
