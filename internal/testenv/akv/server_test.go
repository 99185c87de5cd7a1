package akv

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

// startServer runs a server until the test ends.
func startServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	if _, err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close server: %v", err)
		}
	})
	return s
}

func newClient(t testing.TB, s *Server) *azsecrets.Client {
	t.Helper()
	c, err := s.Client()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func set(t testing.TB, c *azsecrets.Client, name, value string) azsecrets.SetSecretResponse {
	t.Helper()
	resp, err := c.SetSecret(context.Background(), name, azsecrets.SetSecretParameters{Value: to.Ptr(value)}, nil)
	if err != nil {
		t.Fatalf("set %s: %v", name, err)
	}
	return resp
}

// responseError returns err as an *azcore.ResponseError with the wanted status and code.
func responseError(t testing.TB, err error, status int, code string) *azcore.ResponseError {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("error %v is not an *azcore.ResponseError", err)
	}
	if re.StatusCode != status || re.ErrorCode != code {
		t.Fatalf("got %d %q, want %d %q\n%v", re.StatusCode, re.ErrorCode, status, code, err)
	}
	return re
}

func TestSetGetUpdate(t *testing.T) {
	s := startServer(t, Options{})
	c := newClient(t, s)
	ctx := context.Background()

	nbf := time.Unix(1893459661, 0)
	first, err := c.SetSecret(ctx, "db-password", azsecrets.SetSecretParameters{
		Value:       to.Ptr("v1"),
		ContentType: to.Ptr("text/plain"),
		Tags:        map[string]*string{"a": to.Ptr("1"), "b": to.Ptr("2")},
		SecretAttributes: &azsecrets.SecretAttributes{
			Enabled: to.Ptr(true), NotBefore: &nbf,
		},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v1 := first.ID.Version()
	if len(v1) != 32 || strings.Trim(v1, "0123456789abcdef") != "" {
		t.Errorf("version %q is not 32 lower-case hex characters", v1)
	}
	if want := s.URL() + "/secrets/db-password/" + v1; string(*first.ID) != want {
		t.Errorf("id %s, want %s", *first.ID, want)
	}
	a := first.Attributes
	if *a.RecoveryLevel != "Recoverable+Purgeable" || *a.RecoverableDays != 90 || !a.Created.Equal(*a.Updated) || !a.NotBefore.Equal(nbf) {
		t.Errorf("attributes %+v", a)
	}
	second := set(t, c, "db-password", "v2")
	v2 := second.ID.Version()
	if v2 == v1 {
		t.Fatal("a second set did not make a new version")
	}

	for _, tc := range []struct{ name, version, want string }{
		{"latest", "", "v2"},
		{"first by version", v1, "v1"},
		{"second by version", v2, "v2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.GetSecret(ctx, "db-password", tc.version, nil)
			if err != nil {
				t.Fatal(err)
			}
			if *got.Value != tc.want {
				t.Errorf("value %q, want %q", *got.Value, tc.want)
			}
		})
	}

	// PATCH: tags replace the map wholesale, omitted fields stay, no value comes back.
	upd, err := c.UpdateSecretProperties(ctx, "db-password", v1, azsecrets.UpdateSecretPropertiesParameters{
		Tags: map[string]*string{"c": to.Ptr("3")},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if upd.Value != nil {
		t.Error("PATCH returned a value")
	}
	if len(upd.Tags) != 1 || *upd.Tags["c"] != "3" || *upd.ContentType != "text/plain" || !upd.Attributes.NotBefore.Equal(nbf) {
		t.Errorf("after PATCH: tags %v, content type %v, nbf %v", upd.Tags, upd.ContentType, upd.Attributes.NotBefore)
	}
	exp := time.Unix(2208992461, 0)
	upd, err = c.UpdateSecretProperties(ctx, "db-password", v1, azsecrets.UpdateSecretPropertiesParameters{
		SecretAttributes: &azsecrets.SecretAttributes{Expires: &exp},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(upd.Tags) != 1 || !upd.Attributes.Expires.Equal(exp) || *upd.ContentType != "text/plain" {
		t.Errorf("after second PATCH: tags %v, exp %v", upd.Tags, upd.Attributes.Expires)
	}
	got, err := c.GetSecret(ctx, "db-password", v1, nil)
	if err != nil || *got.Value != "v1" || got.Attributes.Expires == nil {
		t.Errorf("get after PATCH: %v %+v", err, got)
	}

	// An empty value is a value.
	set(t, c, "empty", "")
	if got, err := c.GetSecret(ctx, "empty", "", nil); err != nil || *got.Value != "" {
		t.Errorf("empty value: %v %v", err, got.Value)
	}
}

func TestNamesAreCaseInsensitive(t *testing.T) {
	s := startServer(t, Options{})
	c := newClient(t, s)
	ctx := context.Background()

	set(t, c, "MySecret", "one")
	second := set(t, c, "MYSECRET", "two")
	if !strings.Contains(string(*second.ID), "/secrets/MySecret/") {
		t.Errorf("id %s does not keep the first spelling", *second.ID)
	}
	got, err := c.GetSecret(ctx, "mysecret", "", nil)
	if err != nil || *got.Value != "two" {
		t.Fatalf("get with other case: %v", err)
	}
	var names []string
	for p := c.NewListSecretPropertiesPager(nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Value {
			names = append(names, it.ID.Name())
		}
	}
	if !slices.Equal(names, []string{"MySecret"}) {
		t.Errorf("list %v, want [MySecret]", names)
	}
	n := 0
	for p := c.NewListSecretPropertiesVersionsPager("MYSECRET", nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Value)
	}
	if n != 2 {
		t.Errorf("%d versions, want 2", n)
	}
}

func TestListSecretsPaging(t *testing.T) {
	for _, n := range []int{0, 1, 25, 26, 30, 101, 120} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			s := startServer(t, Options{})
			c := newClient(t, s)
			ctx := context.Background()
			var want []string
			for i := range n {
				name := fmt.Sprintf("Secret-%03d", i)
				set(t, c, name, "v")
				want = append(want, name)
			}
			set(t, c, "gone", "v") // deleted secrets are not listed
			if _, err := c.DeleteSecret(ctx, "gone", nil); err != nil {
				t.Fatal(err)
			}
			sort.Slice(want, func(i, j int) bool { return strings.ToUpper(want[i]) < strings.ToUpper(want[j]) })

			var got []string
			pages := 0
			for p := c.NewListSecretPropertiesPager(nil); p.More(); {
				page, err := p.NextPage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				if len(page.Value) > MaxPageSize {
					t.Errorf("page of %d items", len(page.Value))
				}
				for _, it := range page.Value {
					if it.ID.Version() != "" {
						t.Errorf("list item id %s has a version", *it.ID)
					}
					got = append(got, it.ID.Name())
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("listed %d names, want %d (first %v)", len(got), len(want), got[:min(3, len(got))])
			}
			if wantPages := max(1, (n+MaxPageSize-1)/MaxPageSize); pages != wantPages {
				t.Errorf("%d pages, want %d", pages, wantPages)
			}
			lists := 0
			for _, r := range s.Requests() {
				if r.Method == http.MethodGet && r.Path == "/secrets" && r.Status == http.StatusOK {
					lists++
				}
			}
			if lists != pages {
				t.Errorf("request log has %d list requests for %d pages", lists, pages)
			}
		})
	}
}

func TestListVersionsPaging(t *testing.T) {
	s := startServer(t, Options{})
	c := newClient(t, s)
	ctx := context.Background()
	var want []string
	for i := range 57 {
		want = append(want, set(t, c, "rotated", fmt.Sprint(i)).ID.Version())
	}
	slices.Sort(want) // the service orders versions by id, not by creation time
	var got []string
	for p := c.NewListSecretPropertiesVersionsPager("rotated", nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Value) > MaxPageSize {
			t.Errorf("page of %d items", len(page.Value))
		}
		for _, it := range page.Value {
			got = append(got, it.ID.Version())
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("versions differ: got %d, want %d", len(got), len(want))
	}
}

func TestDeleteRecoverPurge(t *testing.T) {
	s := startServer(t, Options{})
	c := newClient(t, s)
	ctx := context.Background()
	v := set(t, c, "app-key", "v1").ID.Version()
	set(t, c, "app-key", "v2")

	del, err := c.DeleteSecret(ctx, "app-key", nil)
	if err != nil {
		t.Fatal(err)
	}
	if *del.RecoveryID != s.URL()+"/deletedsecrets/app-key" || del.ScheduledPurgeDate.Sub(*del.DeletedDate) != 90*24*time.Hour {
		t.Errorf("deleted bundle %+v", del.DeletedSecret)
	}
	_, err = c.GetSecret(ctx, "app-key", "", nil)
	re := responseError(t, err, http.StatusNotFound, "SecretNotFound")
	if !strings.Contains(re.Error(), "A secret with (name/id) app-key was not found in this key vault") {
		t.Errorf("message: %v", re)
	}
	if _, err := c.GetDeletedSecret(ctx, "app-key", nil); err != nil {
		t.Fatal(err)
	}
	rec, err := c.RecoverDeletedSecret(ctx, "app-key", nil)
	if err != nil {
		t.Fatal(err)
	}
	if rec.ID.Name() != "app-key" {
		t.Errorf("recovered %s", *rec.ID)
	}
	// All versions came back.
	if got, err := c.GetSecret(ctx, "app-key", v, nil); err != nil || *got.Value != "v1" {
		t.Fatalf("first version after recover: %v", err)
	}

	if _, err := c.DeleteSecret(ctx, "app-key", nil); err != nil {
		t.Fatal(err)
	}
	// A soft-deleted name cannot be reused.
	_, err = c.SetSecret(ctx, "APP-KEY", azsecrets.SetSecretParameters{Value: to.Ptr("x")}, nil)
	re = responseError(t, err, http.StatusConflict, "Conflict")
	for _, want := range []string{"ObjectIsDeletedButRecoverable", "Secret APP-KEY is currently in a deleted but recoverable state"} {
		if !strings.Contains(re.Error(), want) {
			t.Errorf("409 message lacks %q:\n%v", want, re)
		}
	}
	if _, err := c.PurgeDeletedSecret(ctx, "app-key", nil); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetDeletedSecret(ctx, "app-key", nil)
	responseError(t, err, http.StatusNotFound, "SecretNotFound")
	set(t, c, "app-key", "fresh") // the name is free again
}

func TestListDeletedPaging(t *testing.T) {
	s := startServer(t, Options{RecoverableDays: 7})
	c := newClient(t, s)
	ctx := context.Background()
	for i := range 30 {
		name := fmt.Sprintf("d%02d", i)
		set(t, c, name, "v")
		if _, err := c.DeleteSecret(ctx, name, nil); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for p := c.NewListDeletedSecretPropertiesPager(nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Value {
			if it.ID.Version() != "" || it.RecoveryID == nil || *it.Attributes.RecoveryLevel != "CustomizedRecoverable+Purgeable" {
				t.Errorf("deleted item %+v", it)
			}
			n++
		}
	}
	if n != 30 {
		t.Errorf("%d deleted secrets listed, want 30", n)
	}
}

func TestBackupRestore(t *testing.T) {
	s := startServer(t, Options{})
	c := newClient(t, s)
	ctx := context.Background()
	v1 := set(t, c, "cert-pass", "one").ID.Version()
	set(t, c, "cert-pass", "two")
	b, err := c.BackupSecret(ctx, "cert-pass", nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b.Value), "one") {
		t.Error("backup blob shows a value in the clear")
	}
	_, err = c.RestoreSecret(ctx, azsecrets.RestoreSecretParameters{SecretBackup: b.Value}, nil)
	re := responseError(t, err, http.StatusConflict, "Conflict")
	if !strings.Contains(re.Error(), "There was a conflict restoring the secret '"+s.URL()+"/secrets/cert-pass/") {
		t.Errorf("restore conflict: %v", re)
	}
	if _, err := c.DeleteSecret(ctx, "cert-pass", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PurgeDeletedSecret(ctx, "cert-pass", nil); err != nil {
		t.Fatal(err)
	}
	r, err := c.RestoreSecret(ctx, azsecrets.RestoreSecretParameters{SecretBackup: b.Value}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Value != nil {
		t.Error("restore returned a value")
	}
	if got, err := c.GetSecret(ctx, "cert-pass", v1, nil); err != nil || *got.Value != "one" {
		t.Errorf("first version after restore: %v", err)
	}
	_, err = c.RestoreSecret(ctx, azsecrets.RestoreSecretParameters{SecretBackup: []byte("non-existing")}, nil)
	responseError(t, err, http.StatusBadRequest, "Malformed backup blob")
}

func TestDisabledSecretIsForbidden(t *testing.T) {
	s := startServer(t, Options{})
	c := newClient(t, s)
	ctx := context.Background()
	resp, err := c.SetSecret(ctx, "off", azsecrets.SetSecretParameters{
		Value: to.Ptr("hidden"), SecretAttributes: &azsecrets.SecretAttributes{Enabled: to.Ptr(false)},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"", resp.ID.Version()} {
		_, err = c.GetSecret(ctx, "off", v, nil)
		re := responseError(t, err, http.StatusForbidden, "Forbidden")
		if !strings.Contains(re.Error(), "SecretDisabled") || strings.Contains(re.Error(), "hidden") {
			t.Errorf("403: %v", re)
		}
	}
	// A disabled version can still be changed, and enabled again.
	if _, err := c.UpdateSecretProperties(ctx, "off", "", azsecrets.UpdateSecretPropertiesParameters{
		SecretAttributes: &azsecrets.SecretAttributes{Enabled: to.Ptr(true)},
	}, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := c.GetSecret(ctx, "off", "", nil); err != nil || *got.Value != "hidden" {
		t.Errorf("after enabling: %v", err)
	}
}

func TestLimits(t *testing.T) {
	s := startServer(t, Options{})
	c := newClient(t, s)
	ctx := context.Background()
	tags := func(n int) map[string]*string {
		m := map[string]*string{}
		for i := range n {
			m[fmt.Sprint("t", i)] = to.Ptr("v")
		}
		return m
	}
	for _, tc := range []struct {
		name   string
		params azsecrets.SetSecretParameters
		ok     bool
	}{
		{"value of 25 KB", azsecrets.SetSecretParameters{Value: to.Ptr(strings.Repeat("x", 25*1024))}, true},
		{"value one byte over", azsecrets.SetSecretParameters{Value: to.Ptr(strings.Repeat("x", 25*1024+1))}, false},
		{"multi-byte value over", azsecrets.SetSecretParameters{Value: to.Ptr(strings.Repeat("é", 12801))}, false},
		{"15 tags", azsecrets.SetSecretParameters{Value: to.Ptr("v"), Tags: tags(15)}, true},
		{"16 tags", azsecrets.SetSecretParameters{Value: to.Ptr("v"), Tags: tags(16)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.SetSecret(ctx, "limits", tc.params, nil)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			re := responseError(t, err, http.StatusBadRequest, "BadParameter")
			if strings.Contains(re.Error(), "xxxx") || strings.Contains(re.Error(), "éé") {
				t.Error("the error quotes the value")
			}
		})
	}
	_, err := c.SetSecret(ctx, "bad_name", azsecrets.SetSecretParameters{Value: to.Ptr("v")}, nil)
	re := responseError(t, err, http.StatusBadRequest, "BadParameter")
	if !strings.Contains(re.Error(), "The request URI contains an invalid name: bad_name") {
		t.Errorf("invalid name: %v", re)
	}
	_, err = c.GetSecret(ctx, "a/b", "", nil)
	re = responseError(t, err, http.StatusBadRequest, "BadParameter")
	if !strings.Contains(re.Error(), "invalid name: a/b") {
		t.Errorf("name with a slash: %v", re)
	}
	_, err = c.SetSecret(ctx, strings.Repeat("n", 128), azsecrets.SetSecretParameters{Value: to.Ptr("v")}, nil)
	responseError(t, err, http.StatusBadRequest, "BadParameter")
	set(t, c, strings.Repeat("n", 127), "v")
}

func TestPropagation(t *testing.T) {
	s := startServer(t, Options{Propagation: 1})
	c := newClient(t, s)
	ctx := context.Background()
	set(t, c, "slow", "v")
	if _, err := c.DeleteSecret(ctx, "slow", nil); err != nil {
		t.Fatal(err)
	}
	_, err := c.GetDeletedSecret(ctx, "slow", nil)
	responseError(t, err, http.StatusNotFound, "SecretNotFound")
	if _, err := c.GetDeletedSecret(ctx, "slow", nil); err != nil {
		t.Fatalf("second look at the deleted secret: %v", err)
	}
	if _, err := c.RecoverDeletedSecret(ctx, "slow", nil); err != nil {
		t.Fatal(err)
	}
	_, err = c.SetSecret(ctx, "slow", azsecrets.SetSecretParameters{Value: to.Ptr("x")}, nil)
	re := responseError(t, err, http.StatusConflict, "Conflict")
	if !strings.Contains(re.Error(), "ObjectIsBeingRecovered") {
		t.Errorf("PUT while recovering: %v", re)
	}
	if _, err := c.GetSecret(ctx, "slow", "", nil); err != nil {
		t.Fatalf("get after recovery: %v", err)
	}
}

func TestReset(t *testing.T) {
	s := startServer(t, Options{})
	c := newClient(t, s)
	set(t, c, "a", "v")
	s.Reset()
	if n := len(s.Requests()); n != 0 {
		t.Errorf("%d requests logged after Reset", n)
	}
	_, err := c.GetSecret(context.Background(), "a", "", nil)
	responseError(t, err, http.StatusNotFound, "SecretNotFound")
	if c := s.Counts(); c.Vault != 1 || c.Requests != 1 {
		t.Errorf("counts after one request: %+v", c)
	}
}
