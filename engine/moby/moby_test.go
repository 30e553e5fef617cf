package moby

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dcfw/dcfw/engine"
)

// fakeEngine answers the few endpoints of the Engine API 1.41 the adapter
// uses, on loopback, the way Docker 20.10 does.
func fakeEngine(t *testing.T, events chan string) *httptest.Server {
	t.Helper()
	mux := engineMux()
	mux.HandleFunc("/v1.41/containers/json", func(w http.ResponseWriter, r *http.Request) {
		if got := r.URL.Query().Get("filters"); !strings.Contains(got, `"status":{"running":true}`) {
			t.Errorf("list filters = %s, want running only", got)
		}
		fmt.Fprint(w, `[{"Id":"aaa111","Names":["/web"],"Image":"shop/web:1","ImageID":"sha256:feed","Labels":{"dcfw.enable":"true"},"State":"running",
			"HostConfig":{"NetworkMode":"container:bbb222"}}]`)
	})
	mux.HandleFunc("/v1.41/containers/aaa111/json", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"Id":"aaa111","Name":"/web","State":{"Status":"running","Running":true,"Pid":4242},
			"HostConfig":{"NetworkMode":"bridge","Privileged":false,"CapAdd":["net_admin"],"CapDrop":["ALL"]},"NetworkSettings":{"SandboxKey":"/var/run/docker/netns/0123abcd"}}`)
	})
	mux.HandleFunc("/v1.41/images/sha256:feed/json", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"Id":"sha256:feed","Config":{"Labels":{"dcfw.output.rule.0":"allow","maintainer":"x"}}}`)
	})
	mux.HandleFunc("/v1.41/images/gone/json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"message":"No such image: gone"}`)
	})
	mux.HandleFunc("/v1.41/containers/gone/json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"message":"No such container: gone"}`)
	})
	mux.HandleFunc("/v1.41/events", func(w http.ResponseWriter, r *http.Request) {
		var f map[string]map[string]bool
		if err := json.Unmarshal([]byte(r.URL.Query().Get("filters")), &f); err != nil ||
			!f["type"]["container"] || !f["type"]["network"] || !f["event"]["start"] || !f["event"]["connect"] {
			t.Errorf("events filters = %s", r.URL.Query().Get("filters"))
		}
		if r.URL.Query().Get("since") == "" {
			t.Error("events without since")
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for line := range events {
			fmt.Fprintln(w, line)
			w.(http.Flusher).Flush()
		}
	})
	return serveEngine(t, mux)
}

// engineMux answers /_ping as Docker 20.10 does (API 1.41, Linux); the
// tests add the endpoints they need.
func engineMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/_ping", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		w.Header().Set("Ostype", "linux")
		fmt.Fprint(w, "OK")
	})
	return mux
}

// serveEngine serves mux on loopback and points the moby client's
// environment (DOCKER_HOST and the rest) at it, for this test.
func serveEngine(t *testing.T, mux *http.ServeMux) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Setenv("DOCKER_HOST", "tcp://"+srv.Listener.Addr().String())
	t.Setenv("DOCKER_API_VERSION", "")
	t.Setenv("DOCKER_TLS_VERIFY", "")
	t.Setenv("DOCKER_CERT_PATH", "")
	return srv
}

func TestMobyAgainstAPI141(t *testing.T) {
	events := make(chan string, 4)
	fakeEngine(t, events)
	d, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := t.Context()

	list, err := d.ListRunning(ctx)
	if err != nil {
		t.Fatalf("ListRunning: %v", err)
	}
	if len(list) != 1 || list[0].ID != "aaa111" || list[0].Name() != "web" || list[0].Labels["dcfw.enable"] != "true" ||
		list[0].NetworkMode.JoinedContainer() != "bbb222" || list[0].ImageID != "sha256:feed" || list[0].Image != "shop/web:1" {
		t.Errorf("ListRunning = %+v", list)
	}
	if d.APIVersion() != "1.41" {
		t.Errorf("negotiated API version %s, want 1.41", d.APIVersion())
	}

	info, err := d.Inspect(ctx, "aaa111")
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	want := engine.ContainerInfo{ID: "aaa111", Name: "web", Running: true, PID: 4242, NetworkMode: "bridge", SandboxKey: "/var/run/docker/netns/0123abcd",
		CapAdd: []string{"net_admin"}, CapDrop: []string{"ALL"}}
	if !reflect.DeepEqual(info, want) {
		t.Errorf("Inspect = %+v, want %+v", info, want)
	}
	il, err := d.ImageLabels(ctx, "sha256:feed")
	if err != nil || il["dcfw.output.rule.0"] != "allow" || il["maintainer"] != "x" {
		t.Errorf("ImageLabels = %v, %v", il, err)
	}
	if _, err := d.ImageLabels(ctx, "gone"); !errors.Is(err, engine.ErrImageGone) {
		t.Errorf("ImageLabels of a removed image: %v, want ErrImageGone", err)
	}
	if _, err := d.Inspect(ctx, "gone"); !errors.Is(err, engine.ErrContainerGone) {
		t.Errorf("Inspect of a removed container: %v, want ErrContainerGone", err)
	}

	stream, err := d.Subscribe(ctx, time.Now())
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	events <- `{"status":"start","id":"aaa111","from":"img","Type":"container","Action":"start","Actor":{"ID":"aaa111","Attributes":{"name":"web"}},"scope":"local","time":1700000000,"timeNano":1700000000123456789}`
	events <- `{"Type":"container","Action":"exec_start: sh","Actor":{"ID":"aaa111"}}`
	events <- `{"Type":"network","Action":"connect","Actor":{"ID":"net1","Attributes":{"container":"aaa111","name":"bridge","type":"bridge"}},"timeNano":1700000001000000000}`
	close(events)
	var got []engine.Event
	for ev := range stream.C {
		got = append(got, ev)
	}
	if len(got) != 2 || got[0].Kind != engine.EventStart || got[0].ContainerID != "aaa111" ||
		!got[0].Time.Equal(time.Unix(0, 1700000000123456789)) ||
		got[1].Kind != engine.EventNetworkConnect || got[1].ContainerID != "aaa111" || got[1].NetworkName != "bridge" {
		t.Errorf("events = %+v", got)
	}
	if err := <-stream.Err; err == nil {
		t.Error("a stream that ended gave no error")
	}
}

func TestMobyEngineDown(t *testing.T) {
	srv := fakeEngine(t, nil)
	srv.Close()
	d, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Subscribe(t.Context(), time.Now()); err == nil {
		t.Error("Subscribe succeeded with the engine down")
	}
	if _, err := d.ListRunning(t.Context()); err == nil {
		t.Error("ListRunning succeeded with the engine down")
	}
}
