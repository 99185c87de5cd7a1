package generate

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestParseSpec(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Spec
	}{
		{"uuid", Spec{Type: "uuid", Params: map[string]string{}}},
		{" password ", Spec{Type: "password", Params: map[string]string{}}},
		{"password:length=32,digits=4", Spec{Type: "password", Params: map[string]string{"length": "32", "digits": "4"}}},
		{"password: length=32, digits=4", Spec{Type: "password", Params: map[string]string{"length": "32", "digits": "4"}}},
		// "=" in a value, an empty value, and the escapes.
		{"command:command=gen,args=--x=1;--y=", Spec{Type: "command", Params: map[string]string{"command": "gen", "args": "--x=1;--y="}}},
		{"password:symbolCharacters=", Spec{Type: "password", Params: map[string]string{"symbolCharacters": ""}}},
		{`password:symbolCharacters=!\,\\.,symbols=3`, Spec{Type: "password", Params: map[string]string{"symbolCharacters": `!,\.`, "symbols": "3"}}},
		{`command:command=gen,args=a\;b;\d`, Spec{Type: "command", Params: map[string]string{"command": "gen", "args": `a\;b;\d`}}},
		{`command:command=gen,args=x\\,timeout=1s`, Spec{Type: "command", Params: map[string]string{"command": "gen", "args": `x\`, "timeout": "1s"}}},
		{"tls:dnsNames=a.example;b.example,validity=48h", Spec{Type: "tls", Params: map[string]string{"dnsNames": "a.example;b.example", "validity": "48h"}}},
	} {
		got, err := ParseSpec(tc.in)
		if err != nil {
			t.Errorf("ParseSpec(%q): %v", tc.in, err)
			continue
		}
		if got.Type != tc.want.Type || !maps.Equal(got.Params, tc.want.Params) {
			t.Errorf("ParseSpec(%q) = %#v, want %#v", tc.in, got, tc.want)
		}
		// String renders what ParseSpec reads back.
		if again, err := ParseSpec(got.String()); err != nil || again.Type != got.Type || !maps.Equal(again.Params, got.Params) {
			t.Errorf("ParseSpec(%q) = %#v, %v; want %#v", got.String(), again, err, got)
		}
	}
}

func TestParseSpecRejects(t *testing.T) {
	for _, tc := range []struct{ in, says string }{
		{"", "no generator type"},
		{":length=3", "no generator type"},
		{"password:", "parameter 1 is empty"},
		{"password:length=3,", "parameter 2 is empty"},
		{"password:length=3,,digits=1", "parameter 2 is empty"},
		{"password:length", `parameter 1 ("length") has no "="`},
		{"password:=3", "no name"},
		{"password:length=3,length=4", "length: given more than once"},
	} {
		_, err := ParseSpec(tc.in)
		var se *SpecError
		if !errors.As(err, &se) {
			t.Errorf("ParseSpec(%q) error = %v, want a *SpecError", tc.in, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.says) {
			t.Errorf("ParseSpec(%q) error %q does not say %q", tc.in, err, tc.says)
		}
	}
}

func TestJoinList(t *testing.T) {
	for _, items := range [][]string{
		nil,
		{"a"},
		{"a", "b"},
		{`a;b`, `c\`, `\;`, `x\y`, "--z=1,2"},
	} {
		joined := JoinList(items...)
		got := splitList(joined)
		if !slices.Equal(got, items) {
			t.Errorf("splitList(JoinList(%q)) = %q (joined %q)", items, got, joined)
		}
		// Through the flag form too.
		spec := Spec{Type: "command", Params: map[string]string{"args": joined}}
		back, err := ParseSpec(spec.String())
		if err != nil || !slices.Equal(splitList(back.Params["args"]), items) {
			t.Errorf("the flag form %q of %q reads back as %q, %v", spec.String(), items, back.Params["args"], err)
		}
	}
}

func TestNewRejectsUnknown(t *testing.T) {
	rejected(t, Spec{Type: "pasword"}, "", `unknown type "pasword"`, "password")
	rejected(t, Spec{Type: ""}, "", "unknown type")
	rejected(t, flag(t, "password:lenght=3"), "", `unknown parameter "lenght"`, "length")
	rejected(t, flag(t, "uuid:version=7"), "", `unknown parameter "version"`, "takes none")
	rejected(t, flag(t, "rsa:curve=p256"), "", `unknown parameter "curve"`)
	rejected(t, flag(t, "ssh:format=pkcs8"), "", `unknown parameter "format"`)
}

func TestNewRejectsBadValues(t *testing.T) {
	for _, tc := range []struct {
		spec, param, says string
	}{
		{"password:length=x", "length", `"x" is not a whole number`},
		{"password:length=0", "length", "out of range"},
		{"password:noUpper=maybe", "noUpper", "not true or false"},
		{"bytes:encoding=base32", "encoding", "not one of hex, base64, base64url, raw"},
		{"bytes:length=-1", "length", "out of range"},
		{"command:command=true,timeout=forever", "timeout", "not a duration"},
		{"command:command=true,timeout=0s", "timeout", "out of range"},
		{"tls:dnsNames=a.example;;b.example", "dnsNames", "item 2 is empty"},
	} {
		rejected(t, flag(t, tc.spec), tc.param, tc.says)
	}
}

func TestTypes(t *testing.T) {
	want := []string{"bytes", "command", "ecdsa", "ed25519", "password", "rsa", "ssh", "tls", "uuid"}
	if got := Types(); !slices.Equal(got, want) {
		t.Errorf("Types() = %q, want %q", got, want)
	}
}

func TestSpecErrorMessage(t *testing.T) {
	for _, tc := range []struct {
		err  *SpecError
		want string
	}{
		{&SpecError{Type: "password", Param: "digits", Reason: "too many"}, "generator password: digits: too many"},
		{&SpecError{Type: "tls", Reason: "no name"}, "generator tls: no name"},
		{&SpecError{Reason: "no type"}, "generator spec: no type"},
		{&SpecError{Type: "tls", Param: "caCert", Err: errors.New("open x: no such file")}, "generator tls: caCert: open x: no such file"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}
