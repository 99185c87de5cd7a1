package benchkit

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ParseSummary finds secretshift's summary line in stderr with re, whose first group is a
// duration and whose second is the counts, "N result, N result, ...". It returns the whole
// line, the duration (zero if it does not parse) and the counts by result; ok is false when no
// line matches.
func ParseSummary(re *regexp.Regexp, stderr string) (line string, took time.Duration, counts map[string]int, ok bool) {
	m := re.FindStringSubmatch(stderr)
	if m == nil {
		return "", 0, nil, false
	}
	took, _ = time.ParseDuration(m[1])
	counts = map[string]int{}
	for _, part := range strings.Split(m[2], ", ") {
		num, result, _ := strings.Cut(part, " ")
		counts[result], _ = strconv.Atoi(num)
	}
	return m[0], took, counts, true
}

// PerItem is d divided over n items, rounded to the microsecond, for reports.
func PerItem(d time.Duration, n int) string {
	return (d / time.Duration(n)).Round(time.Microsecond).String()
}

// MB is a number of bytes in MiB, for reports.
func MB(v int64) float64 { return float64(v) / (1 << 20) }

// FirstLines is the first n lines of b.
func FirstLines(b []byte, n int) string {
	lines := strings.SplitN(string(b), "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

// LastLines is the last n lines of b.
func LastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// Verdict says whether a target was met, for reports.
func Verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// String describes the corpus in one line, for reports.
func (c Stats) String() string {
	return fmt.Sprintf("%d Secrets in %d namespaces, %d keys (%d-%d per Secret), %.1f MB of values; %d with a binary value, %d with a value of 10-50 KB",
		c.Secrets, Namespaces, c.Keys, c.MinKeys, c.MaxKeys, float64(c.Bytes)/(1<<20), c.Binary, c.Large)
}
