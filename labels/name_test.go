package labels

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestParseRuleNames: names stand alone or mix with addresses and prefixes
// in a list; they are folded to lower case, lose a trailing dot, and are
// sorted and unique; they do not decide the rule's family.
func TestParseRuleNames(t *testing.T) {
	for _, tc := range []struct {
		name     string
		text     string
		from, to Endpoint
		family   Family
		str      string
	}{
		{
			name: "service name alone", text: "allow proto tcp to db port 5432",
			to: Endpoint{Names: []string{"db"}, Ports: ports(port(5432))}, str: "allow proto tcp to db port 5432",
		},
		{
			name: "name mixed with an address", text: "allow to db,10.0.0.5",
			to:     Endpoint{Addrs: prefixes(t, "10.0.0.5"), Names: []string{"db"}},
			family: IPv4, str: "allow to 10.0.0.5,db",
		},
		{
			name: "name mixed with an IPv6 prefix", text: "deny from 2001:db8::/32,web",
			from:   Endpoint{Addrs: prefixes(t, "2001:db8::/32"), Names: []string{"web"}},
			family: IPv6, str: "deny from 2001:db8::/32,web",
		},
		{
			name: "input rule from a service", text: "allow proto tcp from web to any port 5432",
			from: Endpoint{Names: []string{"web"}}, to: Endpoint{Ports: ports(port(5432))},
			str: "allow proto tcp from web to any port 5432",
		},
		{
			name: "DNS host name, case folded, trailing dot dropped", text: "allow to API.Example.COM.",
			to: Endpoint{Names: []string{"api.example.com"}}, str: "allow to api.example.com",
		},
		{
			name: "names sorted and deduplicated", text: "allow to web,db,WEB,db.",
			to: Endpoint{Names: []string{"db", "web"}}, str: "allow to db,web",
		},
		{
			name: "compose v2 container name", text: "allow to shop-db-1",
			to: Endpoint{Names: []string{"shop-db-1"}}, str: "allow to shop-db-1",
		},
		{
			name: "name starting with a digit", text: "allow to 3com.example",
			to: Endpoint{Names: []string{"3com.example"}}, str: "allow to 3com.example",
		},
		{
			name: "action word as a name", text: "allow to deny",
			to: Endpoint{Names: []string{"deny"}}, str: "allow to deny",
		},
		{
			name: "name of 63-byte labels and 253 bytes", text: "allow to " + longName(253),
			to: Endpoint{Names: []string{longName(253)}}, str: "allow to " + longName(253),
		},
		{
			name: "name with icmp keeps the protocol's family", text: "allow proto icmp to db",
			to: Endpoint{Names: []string{"db"}}, family: IPv4, str: "allow proto icmp to db",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseRule(tc.text)
			if err != nil {
				t.Fatalf("ParseRule(%q): %v", tc.text, err)
			}
			if !r.From.Equal(tc.from) || !r.To.Equal(tc.to) || r.Family != tc.family {
				t.Fatalf("ParseRule(%q) = from %#v to %#v family %v\nwant from %#v to %#v family %v",
					tc.text, r.From, r.To, r.Family, tc.from, tc.to, tc.family)
			}
			if got := r.String(); got != tc.str {
				t.Errorf("String() = %q, want %q", got, tc.str)
			}
			if !r.HasNames() {
				t.Errorf("HasNames() = false")
			}
			checkCanonical(t, r)
			checkRoundTrip(t, r)
		})
	}
}

// longName is a valid name of n bytes: labels of 63 bytes and a shorter
// last one that is not all digits.
func longName(n int) string {
	var b strings.Builder
	for b.Len() < n {
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strings.Repeat("a", min(63, n-b.Len())))
	}
	return b.String()
}

// TestParseRuleNamesInvalid: what is not a valid DNS name is a label error
// that points at the problem, and what looks like an address stays an
// address (and its error an address error).
func TestParseRuleNamesInvalid(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		want wantErr
	}{
		{"address stays an address", "allow to 10.0.0.256", wantErr{ErrValue, "10.0.0.256", 10, `invalid IPv4 address`, ""}},
		{"short address stays an address", "allow to 10.0.5", wantErr{ErrValue, "10.0.5", 10, `invalid IPv4 address`, ""}},
		{"name with a port the URL way", "allow to web:80", wantErr{ErrValue, "web:80", 10, `invalid IPv6 address "web:80"`, ""}},
		{"compose v1 underscore", "allow to shop_db_1", wantErr{ErrValue, "_", 14, `character "_" not allowed in name "shop_db_1"`, ""}},
		{"wildcard", "allow to *.example.com", wantErr{ErrValue, "*", 10, `character "*" not allowed`, ""}},
		{"prefix length on a name", "allow to web/24", wantErr{ErrValue, "/", 13, `character "/" not allowed`, ""}},
		{"leading hyphen", "allow to -web", wantErr{ErrValue, "-web", 10, `starts or ends with a hyphen`, ""}},
		{"trailing hyphen in a label", "allow to web-.example", wantErr{ErrValue, "web-", 10, `starts or ends with a hyphen`, ""}},
		{"empty label", "allow to web..example", wantErr{ErrValue, "", 14, `empty label in name`, ""}},
		{"leading dot", "allow to .web", wantErr{ErrValue, "", 10, `empty label in name`, ""}},
		{"two trailing dots", "allow to web..", wantErr{ErrValue, "", 14, `empty label in name`, ""}},
		{"all-digit last label", "allow to web.123", wantErr{ErrValue, "web.123", 10, `ends in an all-digit label`, ""}},
		{"label too long", "allow to " + strings.Repeat("a", 64), wantErr{ErrValue, strings.Repeat("a", 64), 10, `is 64 bytes long, at most 63`, ""}},
		{"name too long", "allow to " + longName(254), wantErr{ErrValue, longName(254), 10, `name is 254 bytes long, at most 253`, ""}},
		{"non-ASCII", "allow to bücher.example", wantErr{ErrValue, "ü", 11, `non-ASCII name`, ""}},
		{"any with a name", "allow to any,db", wantErr{ErrValue, "any", 10, `any combined with other addresses`, ""}},
		{"keyword cannot be a name", "allow to port 80", wantErr{ErrSyntax, "to", 7, `missing address list after "to"`, ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRule(tc.text)
			if err == nil {
				t.Fatalf("ParseRule(%q): no error", tc.text)
			}
			checkErrorInvariants(t, err)
			e := allErrors(err)[0]
			w := tc.want
			if !errors.Is(e, w.is) || e.Token != w.token || e.Column() != w.col || !strings.Contains(e.Msg, w.msg) {
				t.Errorf("got %v (token %q, column %d, sentinel %v)\nwant token %q, column %d, msg containing %q, sentinel %v",
					e, e.Token, e.Column(), e.Err, w.token, w.col, w.msg, w.is)
			}
		})
	}
}

// TestPortSuffixHint: `web:80` says where the port goes.
func TestPortSuffixHint(t *testing.T) {
	_, err := ParseRule("allow to web:80")
	if err == nil || !strings.Contains(err.Error(), "a port is written after the list: web port 80") {
		t.Fatalf("error %v, want the port hint", err)
	}
}

// TestNamesPerContainerLimit: MaxNamesPerContainer distinct names are
// fine, one more is ErrTooManyNames in the label and at the name that goes
// over; a name used twice counts once.
func TestNamesPerContainerLimit(t *testing.T) {
	names := func(from, to int) string {
		var ns []string
		for i := from; i < to; i++ {
			ns = append(ns, fmt.Sprintf("n%d", i))
		}
		return strings.Join(ns, ",")
	}
	half := MaxNamesPerContainer / 2
	atLimit := map[string]string{
		KeyEnable:                 "true",
		InputRulePrefix + "1":     "allow from " + names(0, half),
		OutputRulePrefix + "1":    "allow to " + names(half, MaxNamesPerContainer),
		OutputRulePrefix + "2":    "deny to n0,n1",
		OutputRulePrefix + "3000": "allow to n3",
	}
	pol, err := Parse(atLimit)
	if err != nil {
		t.Fatalf("at the limit: %v", err)
	}
	if got := pol.Names(); len(got) != MaxNamesPerContainer || !slices.IsSorted(got) {
		t.Fatalf("Names() = %d names %v, want %d sorted", len(got), got, MaxNamesPerContainer)
	}

	over := map[string]string{KeyEnable: "true"}
	for k, v := range atLimit {
		over[k] = v
	}
	over[OutputRulePrefix+"10"] = "allow to n1,extra.example,n2"
	_, err = Parse(over)
	es := allErrors(err)
	if len(es) != 1 || !errors.Is(err, ErrTooManyNames) {
		t.Fatalf("over the limit: %v, want one ErrTooManyNames", err)
	}
	checkErrorInvariants(t, err)
	if e := es[0]; e.Key != OutputRulePrefix+"10" || e.Token != "extra.example" || e.Column() != 13 ||
		!strings.Contains(e.Msg, fmt.Sprintf("at most %d", MaxNamesPerContainer)) {
		t.Fatalf("error %v (key %q token %q column %d)", e, e.Key, e.Token, e.Column())
	}
}

// TestPolicyNamesEmpty: a policy without names has none to resolve.
func TestPolicyNamesEmpty(t *testing.T) {
	pol, err := Parse(map[string]string{KeyEnable: "true", InputRulePrefix + "1": "allow from 10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	if got := pol.Names(); got != nil {
		t.Fatalf("Names() = %v, want nil", got)
	}
}

// TestPolicyDenyNames: only names of deny and reject rules, each once.
func TestPolicyDenyNames(t *testing.T) {
	pol, err := Parse(map[string]string{
		KeyEnable:              "true",
		InputRulePrefix + "1":  "allow from web",
		InputRulePrefix + "2":  "reject from scanner.example,web",
		OutputRulePrefix + "1": "deny to ads.example,10.0.0.1",
		OutputRulePrefix + "2": "allow to db",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := pol.DenyNames(), []string{"ads.example", "scanner.example", "web"}; !slices.Equal(got, want) {
		t.Fatalf("DenyNames() = %v, want %v", got, want)
	}
	if got, want := pol.Names(), []string{"ads.example", "db", "scanner.example", "web"}; !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
}

// TestPolicyHasNames: HasNames is whether Names is empty, without the list.
func TestPolicyHasNames(t *testing.T) {
	for _, lbls := range []map[string]string{
		{"dcfw.enable": "true", "dcfw.output.rule.1": "allow to 10.0.0.5"},
		{"dcfw.enable": "true", "dcfw.output.rule.1": "allow to db"},
		{"dcfw.enable": "true", "dcfw.input.rule.1": "allow from web,10.0.0.0/8"},
		{"dcfw.enable": "true"},
	} {
		p, err := Parse(lbls)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := p.HasNames(), len(p.Names()) > 0; got != want {
			t.Errorf("%v: HasNames() = %v, want %v", lbls, got, want)
		}
	}
}

// TestValidName: the names Parse gives are valid; what it would reject,
// or has not canonicalised, is not.
func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{
		"db": true, "api.example.com": true, "web-1": true,
		"": false, "Db": false, "db.": false, "web_1": false, "-x": false, "a..b": false, "10.0.0.5": false, "a\x00b": false,
	} {
		if got := ValidName(name); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", name, got, want)
		}
	}
}
