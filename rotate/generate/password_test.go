package generate

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// draws is how many values the property tests draw from each generator.
const draws = 10_000

func TestPasswordProperties(t *testing.T) {
	for _, tc := range []struct {
		spec                    string
		length, digits, symbols int
		symbolChars             string
		noUpper, allowRepeat    bool
	}{
		{spec: "password", length: 24, digits: 6, symbols: 6, symbolChars: DefaultSymbolCharacters},
		{spec: "password:length=32,digits=4,symbols=4", length: 32, digits: 4, symbols: 4, symbolChars: DefaultSymbolCharacters},
		{spec: "password:length=30,digits=2,symbols=2,noUpper=true", length: 30, digits: 2, symbols: 2, symbolChars: DefaultSymbolCharacters, noUpper: true},
		{spec: "password:length=16,digits=0,symbols=4,symbolCharacters=-_$@", length: 16, symbols: 4, symbolChars: "-_$@"},
		{spec: "password:length=64,digits=0,symbols=0,allowRepeat=true,noUpper=true", length: 64, noUpper: true, allowRepeat: true},
		{spec: "password:length=100,digits=30,symbols=30,allowRepeat=true,symbolCharacters=€£", length: 100, digits: 30, symbols: 30, symbolChars: "€£", allowRepeat: true},
		{spec: "password:length=62,digits=10,symbols=0", length: 62, digits: 10},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			g := mustNew(t, tc.spec)
			letters := lowerLetters
			if !tc.noUpper {
				letters += upperLetters
			}
			seen := make(map[string]bool, draws)
			for range draws {
				pw := string(generate(t, g, "password")["password"])
				if !utf8.ValidString(pw) {
					t.Fatal("a password is not valid UTF-8")
				}
				if n := utf8.RuneCountInString(pw); n != tc.length {
					t.Fatalf("a password has %d characters, want %d", n, tc.length)
				}
				var nDigits, nSymbols, nLetters int
				chars := make(map[rune]bool, tc.length)
				for _, r := range pw {
					switch {
					case strings.ContainsRune(digitChars, r):
						nDigits++
					case strings.ContainsRune(tc.symbolChars, r):
						nSymbols++
					case strings.ContainsRune(letters, r):
						nLetters++
					default:
						// Name the class, not the character: a test log is a log too.
						t.Fatalf("a password holds a character outside digits, symbolCharacters and the letters allowed (noUpper=%v)", tc.noUpper)
					}
					if chars[r] && !tc.allowRepeat {
						t.Fatal("a character repeats in a password although allowRepeat=false")
					}
					chars[r] = true
				}
				if nDigits != tc.digits || nSymbols != tc.symbols || nLetters != tc.length-tc.digits-tc.symbols {
					t.Fatalf("a password has %d digits, %d symbols and %d letters; want %d, %d and %d",
						nDigits, nSymbols, nLetters, tc.digits, tc.symbols, tc.length-tc.digits-tc.symbols)
				}
				if seen[pw] {
					t.Fatal("a password was drawn twice")
				}
				seen[pw] = true
			}
		})
	}
}

// TestPasswordShuffled checks that the classes are spread over the positions: in the default
// password (6 digits of 24) a digit comes first a quarter of the time. Over 10,000 draws the
// standard deviation is 0.43 points, so 20% to 30% fails only when something is wrong.
func TestPasswordShuffled(t *testing.T) {
	g := mustNew(t, "password")
	first, last := 0, 0
	for range draws {
		pw := generate(t, g, "k")["k"]
		if strings.IndexByte(digitChars, pw[0]) >= 0 {
			first++
		}
		if strings.IndexByte(digitChars, pw[len(pw)-1]) >= 0 {
			last++
		}
	}
	for pos, n := range map[string]int{"first": first, "last": last} {
		if share := float64(n) / draws; share < 0.20 || share > 0.30 {
			t.Errorf("a digit came %s in %.1f%% of passwords, want about 25%%", pos, 100*share)
		}
	}
}

func TestPasswordImpossible(t *testing.T) {
	for _, tc := range []struct{ spec, param, says string }{
		{"password:length=10,digits=6,symbols=5", "digits", "digits=6 and symbols=5 add up to more than length=10"},
		{"password:length=10,symbols=11", "symbols", "more than length=10"},
		{"password:length=40,digits=11,symbols=0", "digits", "more than the 10 distinct digits"},
		{"password:length=100", "digits", "25 (the default, a quarter of length) is more than the 10 distinct digits"},
		{"password:length=10,symbols=5,symbolCharacters=-_$@", "symbols", "more than the 4 distinct symbolCharacters"},
		{"password:length=40,digits=6,symbols=6,noUpper=true", "length", "leaves 28 letters, more than the 26 distinct letters"},
		{"password:length=70,digits=10,symbols=6", "length", "more than the 52 distinct letters"},
		{"password:symbols=2,symbolCharacters=", "symbolCharacters", "is empty"},
		{"password:symbolCharacters=-a", "symbolCharacters", `'a' is a letter or a digit`},
		{"password:symbolCharacters=-7", "symbolCharacters", `'7' is a letter or a digit`},
		{"password:symbolCharacters=--", "symbolCharacters", "occurs more than once"},
		{"password:symbolCharacters=- ", "symbolCharacters", "space"},
		{"password:length=0", "length", "out of range"},
		{"password:digits=-1", "digits", "out of range"},
	} {
		rejected(t, flag(t, tc.spec), tc.param, tc.says)
	}
	// What allowRepeat=true makes possible.
	for _, spec := range []string{
		"password:length=100,allowRepeat=true",
		"password:length=40,digits=11,symbols=5,symbolCharacters=-_$@,allowRepeat=true",
		"password:length=40,digits=6,symbols=6,noUpper=true,allowRepeat=true",
	} {
		mustNew(t, spec)
	}
}

func TestIntnUniform(t *testing.T) {
	const n, per = 6, 5000
	var counts [n]int
	for range n * per {
		counts[intn(n)]++
	}
	for v, c := range counts {
		// The standard deviation is about 65; 10 of them apart is a broken draw.
		if c < per-650 || c > per+650 {
			t.Errorf("intn(%d) returned %d %d times in %d draws, want about %d", n, v, c, n*per, per)
		}
	}
}
