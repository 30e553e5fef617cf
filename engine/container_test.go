package engine

import "testing"

func TestNetworkMode(t *testing.T) {
	if !NetworkMode("host").IsHost() || NetworkMode("bridge").IsHost() {
		t.Error("IsHost")
	}
	if NetworkMode("container:abc").JoinedContainer() != "abc" || NetworkMode("default").JoinedContainer() != "" {
		t.Error("JoinedContainer")
	}
}
