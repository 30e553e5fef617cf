package reconcile

import (
	"fmt"
	"net/http"
	"net/netip"
	"testing"
)

// TestMobyDockerNetworkInspect: the endpoints of a network, as Docker
// 20.10 (API 1.41) answers `GET /networks/{id}` while a container starts,
// and for the host network (endpoints without MAC or address).
func TestMobyDockerNetworkInspect(t *testing.T) {
	mux := engineMux()
	mux.HandleFunc("/v1.41/networks/net1", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"Name":"br","Id":"net1","Driver":"bridge","Containers":{
			"aaa111":{"Name":"web","EndpointID":"ep1","MacAddress":"02:42:0a:e7:fc:40","IPv4Address":"10.231.252.64/24","IPv6Address":"fd00:dcf::40/64"},
			"bbb222":{"Name":"db","EndpointID":"ep2","MacAddress":"02:42:0a:e7:fc:41","IPv4Address":"10.231.252.65/24","IPv6Address":""}}}`)
	})
	mux.HandleFunc("/v1.41/networks/host", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"Name":"host","Id":"host","Driver":"host","Containers":{
			"ccc333":{"Name":"h","EndpointID":"ep3","MacAddress":"","IPv4Address":"","IPv6Address":""}}}`)
	})
	mux.HandleFunc("/v1.41/networks/gone", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"message":"network gone not found"}`)
	})
	serveEngine(t, mux)
	d, err := NewMobyDocker()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()

	n, err := d.NetworkInspect(t.Context(), "net1")
	if err != nil {
		t.Fatalf("NetworkInspect: %v", err)
	}
	web := n.Endpoints["aaa111"]
	if n.ID != "net1" || n.Name != "br" || len(n.Endpoints) != 2 ||
		web.MAC.String() != "02:42:0a:e7:fc:40" || web.IPv4 != netip.MustParseAddr("10.231.252.64") ||
		web.IPv6 != netip.MustParseAddr("fd00:dcf::40") || n.Endpoints["bbb222"].IPv6.IsValid() {
		t.Errorf("NetworkInspect = %+v", n)
	}
	h, err := d.NetworkInspect(t.Context(), "host")
	if err != nil {
		t.Fatalf("NetworkInspect host: %v", err)
	}
	if ep, ok := h.Endpoints["ccc333"]; !ok || len(ep.MAC) != 0 || ep.IPv4.IsValid() || ep.IPv6.IsValid() {
		t.Errorf("host network endpoint = %+v", ep)
	}
	if _, err := d.NetworkInspect(t.Context(), "gone"); err == nil {
		t.Error("NetworkInspect of a missing network succeeded")
	}
}
