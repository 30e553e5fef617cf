package testpeer

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestStreamLinesAreLoggedByTheServer(t *testing.T) {
	log := &syncBuffer{}
	srv, err := Listen(nil, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.ListenStream([]uint16{0}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ctx) }()
	defer func() { cancel(); <-done }()

	addr := srv.stream[0].Addr().String()
	var out syncBuffer
	sctx, stop := context.WithCancel(context.Background())
	streamed := make(chan error, 1)
	go func() { streamed <- Stream(sctx, addr, time.Millisecond, &out) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(log.String(), ": seq 3\n") {
		if time.Now().After(deadline) {
			t.Fatalf("server log after 10s:\n%s", log.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	if err := <-streamed; err != nil {
		t.Errorf("Stream: %v", err)
	}
	if !strings.HasPrefix(out.String(), "stream connected from ") {
		t.Errorf("Stream output %q, want it to start with the connect line", out.String())
	}
	for _, want := range []string{"stream accept from ", ": seq 1\n", ": seq 2\n"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("server log lacks %q:\n%s", want, log.String())
		}
	}
}
