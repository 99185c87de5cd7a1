package kube

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// pagedSecrets serves n Secrets of valueSize bytes each in pages as the API server does:
// Limit objects from the continue position, recording each limit asked for.
type pagedSecrets struct {
	n, valueSize int
	limits       []int64
	// expireAt, when positive, answers the request for the page starting there with 410 Gone
	// once.
	expireAt int
}

func (p *pagedSecrets) list(_ context.Context, opts metav1.ListOptions) (*corev1.SecretList, error) {
	p.limits = append(p.limits, opts.Limit)
	from := 0
	if opts.Continue != "" {
		from, _ = strconv.Atoi(opts.Continue)
	}
	if p.expireAt > 0 && from == p.expireAt {
		p.expireAt = 0
		return nil, apierrors.NewResourceExpired("continue token expired")
	}
	to := min(p.n, from+int(opts.Limit))
	page := &corev1.SecretList{}
	for i := from; i < to; i++ {
		page.Items = append(page.Items, corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: fmt.Sprintf("s-%05d", i)},
			Data:       map[string][]byte{"v": make([]byte, p.valueSize)},
		})
	}
	if to < p.n {
		page.Continue = strconv.Itoa(to)
	}
	return page, nil
}

func TestListPagesGrowWhileSmall(t *testing.T) {
	for _, tc := range []struct {
		name       string
		n, size    int
		limit      int64
		wantLimits []int64
	}{
		// 1 KiB Secrets: 500 fit in half a MiB, so the pages grow fourfold up to MaxPageSize.
		{"small Secrets grow to the maximum", 12_000, 1 << 10, 0, []int64{500, 2000, 5000, 5000}},
		// 8 KiB Secrets: 1,000 fill PageBytes, so the pages stop growing there.
		{"larger Secrets grow as far as PageBytes", 4_000, 8 << 10, 0, []int64{500, 1018, 1018, 1018, 1018}},
		// 100 KiB Secrets: even 500 are over PageBytes; never fewer than kubectl's 500.
		{"large Secrets stay at the default", 1_200, 100 << 10, 0, []int64{500, 500, 500}},
		{"a page size given is kept", 1_000, 1 << 10, 300, []int64{300, 300, 300, 300}},
		{"one page", 10, 1 << 10, 0, []int64{500}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &pagedSecrets{n: tc.n, valueSize: tc.size}
			seen := 0
			err := listPages(context.Background(), metav1.ListOptions{Limit: tc.limit}, p.list,
				func() { seen = 0 }, func(page *corev1.SecretList) { seen += len(page.Items) })
			if err != nil {
				t.Fatal(err)
			}
			if seen != tc.n {
				t.Errorf("listed %d Secrets, want %d", seen, tc.n)
			}
			if !slices.Equal(p.limits, tc.wantLimits) {
				t.Errorf("page limits %v, want %v", p.limits, tc.wantLimits)
			}
		})
	}
}

// A listing that starts over after its continue token expired starts over at the first page
// size too, and still hands every Secret over exactly once.
func TestListPagesStartOverFromTheFirstPageSize(t *testing.T) {
	p := &pagedSecrets{n: 3_000, valueSize: 1 << 10, expireAt: 2_500}
	names := map[string]int{}
	err := listPages(context.Background(), metav1.ListOptions{}, p.list,
		func() { clear(names) },
		func(page *corev1.SecretList) {
			for _, s := range page.Items {
				names[s.Name]++
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{500, 2000, 5000, 500, 2000, 5000}; !slices.Equal(p.limits, want) {
		t.Errorf("page limits %v, want %v", p.limits, want)
	}
	if len(names) != p.n {
		t.Errorf("listed %d distinct Secrets, want %d", len(names), p.n)
	}
	for name, n := range names {
		if n != 1 {
			t.Fatalf("%s handed over %d times", name, n)
		}
	}
}
