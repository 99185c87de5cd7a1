package policy

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// parseDuration parses a Go duration ("720h", "90m") or days, optionally followed by a Go
// duration ("30d", "1d12h"), with an optional sign.
func parseDuration(s string) (time.Duration, error) {
	i := strings.IndexByte(s, 'd')
	if i < 0 {
		return time.ParseDuration(s)
	}
	num, rest := s[:i], s[i+1:]
	neg := false
	if num != "" && (num[0] == '-' || num[0] == '+') {
		neg = num[0] == '-'
		num = num[1:]
	}
	if num == "" || strings.TrimLeft(num, "0123456789") != "" {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	days, err := strconv.ParseInt(num, 10, 64)
	if err != nil || days > math.MaxInt64/int64(24*time.Hour) {
		return 0, fmt.Errorf("invalid duration %q: too long", s)
	}
	d := time.Duration(days) * 24 * time.Hour
	if rest != "" {
		if rest[0] == '-' || rest[0] == '+' {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		r, err := time.ParseDuration(rest)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		if r > math.MaxInt64-d {
			return 0, fmt.Errorf("invalid duration %q: too long", s)
		}
		d += r
	}
	if neg {
		d = -d
	}
	return d, nil
}

// checkGlob checks a match.paths pattern: path.Match syntax, without "**".
func checkGlob(g string) error {
	if _, err := path.Match(g, ""); err != nil {
		return fmt.Errorf("%q is not a valid pattern (path.Match syntax: * ? [a-z] and \\ to escape)", g)
	}
	for i := 0; i < len(g); i++ {
		switch g[i] {
		case '\\':
			i++
		case '[': // a character class: '*' is literal there
			for i++; i < len(g) && g[i] != ']'; i++ {
				if g[i] == '\\' {
					i++
				}
			}
		case '*':
			if i+1 < len(g) && g[i+1] == '*' {
				return fmt.Errorf("%q: '**' is not supported; '*' matches within one path segment, so list deeper levels as patterns of their own, such as shop/* and shop/*/*", g)
			}
		}
	}
	return nil
}

// findProgram checks that a hook program exists and is executable. A program written with
// a "/" is resolved against base and becomes absolute; a bare name is looked up on PATH.
func findProgram(base, prog string) program {
	if prog == "" {
		return program{msg: "the program (first element) is empty"}
	}
	if !strings.ContainsRune(prog, '/') && !strings.ContainsRune(prog, filepath.Separator) {
		_, err := exec.LookPath(prog)
		switch {
		case err == nil:
			return program{path: prog}
		case errors.Is(err, exec.ErrDot):
			return program{msg: fmt.Sprintf("program %q is found in the current folder through PATH, which is not used; write ./%s to mean that file", prog, prog)}
		case errors.Is(err, exec.ErrNotFound):
			return program{msg: fmt.Sprintf("program %q is not found in PATH", prog)}
		}
		return program{msg: fmt.Sprintf("program %q: %v", prog, err)}
	}
	full := prog
	if !filepath.IsAbs(full) {
		full = filepath.Join(base, full)
	}
	full, err := filepath.Abs(full)
	if err != nil {
		return program{msg: fmt.Sprintf("program %q: %v", prog, err)}
	}
	st, err := os.Stat(full)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return program{msg: fmt.Sprintf("program %q does not exist (looked for %s)", prog, full)}
	case err != nil:
		return program{msg: fmt.Sprintf("program %q: %v", prog, err)}
	case st.IsDir():
		return program{msg: fmt.Sprintf("program %q is a folder (%s)", prog, full)}
	case !st.Mode().IsRegular():
		return program{msg: fmt.Sprintf("program %q is not a regular file (%s)", prog, full)}
	}
	if _, err := exec.LookPath(full); err != nil {
		return program{msg: fmt.Sprintf("program %q is not executable (%s, mode %v)", prog, full, st.Mode().Perm())}
	}
	return program{path: full}
}

// didYouMean is `did you mean "x"? `, naming a known name close to s, or "".
func didYouMean(s string, known []string) string {
	if m := suggest(s, known); m != "" {
		return fmt.Sprintf("did you mean %q? ", m)
	}
	return ""
}

// suggest returns the known name s is most likely a typo of, or "".
func suggest(s string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if strings.EqualFold(s, k) {
			return k
		}
		limit := 2
		if len(k) <= 4 {
			limit = 1
		}
		if d := distance(strings.ToLower(s), strings.ToLower(k)); d <= limit && d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// distance is the Levenshtein distance between a and b (in bytes), capped for long input.
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return math.MaxInt
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
