package labels_test

import (
	"errors"
	"fmt"

	"github.com/dcfw/dcfw/labels"
)

func ExampleParse() {
	pol, err := labels.Parse(map[string]string{
		"dcfw.enable":        "true",
		"dcfw.input.rule.2":  "allow on eth0 proto tcp from 172.16.64.0/24 to any port 80",
		"dcfw.input.rule.1":  "allow on eth0 proto tcp from 192.168.110.0/24 to any port 80",
		"dcfw.output.policy": "deny",
		"dcfw.output.rule.1": `allow proto tcp to 192.168.150.6 port 3306 comment "Allow access to MariaDB"`,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(pol.State, "input", pol.Input.Policy, "output", pol.Output.Policy)
	for _, r := range pol.Input.Rules {
		fmt.Println(r.Label, "=", r)
	}
	for _, r := range pol.Output.Rules {
		fmt.Println(r.Label, "=", r)
	}
	// Output:
	// enabled input deny output deny
	// dcfw.input.rule.1 = allow on eth0 proto tcp from 192.168.110.0/24 to any port 80
	// dcfw.input.rule.2 = allow on eth0 proto tcp from 172.16.64.0/24 to any port 80
	// dcfw.output.rule.1 = allow proto tcp to 192.168.150.6 port 3306 comment "Allow access to MariaDB"
}

func ExampleParse_errors() {
	_, err := labels.Parse(map[string]string{
		"dcfw.enable":       "true",
		"dcfw.input.rule.1": "allow proto tcp frm 10.0.0.1",
		"dcfw.input.rule.2": "allow to 10.0.0.1, 10.0.0.2 port 80",
		"dcfw.ouput.policy": "deny",
	})
	var errs labels.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			fmt.Println(e)
		}
	}
	fmt.Println("unknown label:", errors.Is(err, labels.ErrUnknownLabel))
	// Output:
	// dcfw.input.rule.1: "allow proto tcp frm 10.0.0.1": unknown keyword "frm" at column 17 (did you mean "from"?)
	// dcfw.input.rule.2: "allow to 10.0.0.1, 10.0.0.2 port 80": spaces inside the list "10.0.0.1, 10.0.0.2" at column 10 (write it without spaces: 10.0.0.1,10.0.0.2)
	// dcfw.ouput.policy: unknown label (did you mean "dcfw.output.policy"?)
	// unknown label: true
}

func ExampleParseRule() {
	r, err := labels.ParseRule("ALLOW to 10.0.0.6,10.0.0.5 PORT 443,80,81,82 comment web")
	if err != nil {
		panic(err)
	}
	fmt.Println(r)
	fmt.Println(r.Family, r.Protocols())
	// Output:
	// allow to 10.0.0.5,10.0.0.6 port 80-82,443 comment web
	// IPv4 [tcp udp]
}

func ExampleParse_names() {
	pol, err := labels.Parse(map[string]string{
		"dcfw.enable":        "true",
		"dcfw.input.rule.1":  "allow proto tcp from web to any port 5432",
		"dcfw.output.policy": "deny",
		"dcfw.output.rule.1": "allow proto tcp to API.Example.com.,10.0.0.5 port 443",
		"dcfw.output.rule.2": "reject to ads.example",
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(pol.Input.Rules[0])
	fmt.Println(pol.Output.Rules[0])
	fmt.Println("resolve:", pol.Names(), "lock down while unresolved:", pol.DenyNames())

	_, err = labels.ParseRule("allow to shop_db_1")
	fmt.Println(err)
	// Output:
	// allow proto tcp from web to any port 5432
	// allow proto tcp to 10.0.0.5,api.example.com port 443
	// resolve: [ads.example api.example.com web] lock down while unresolved: [ads.example]
	// "allow to shop_db_1": character "_" not allowed in name "shop_db_1" at column 14 (a name is a DNS name, without underscores; use the compose service name or a network alias)
}
