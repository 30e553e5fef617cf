package moby

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/dcfw/dcfw/engine"
)

// Client is the engine adapter on github.com/moby/moby/client. It is
// configured from the environment (DOCKER_HOST, DOCKER_CERT_PATH,
// DOCKER_TLS_VERIFY, DOCKER_API_VERSION) and negotiates the API version with
// the engine, so it works with engines from API 1.41 up.
type Client struct {
	cli *client.Client
}

// New creates the adapter. It does not contact the engine.
func New() (*Client, error) {
	// API version negotiation is the client's default: the first request
	// pings the engine and downgrades to its version.
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return &Client{cli: cli}, nil
}

// Host is the engine address the adapter talks to.
func (d *Client) Host() string { return d.cli.DaemonHost() }

// ServerVersion asks the engine for its version.
func (d *Client) ServerVersion(ctx context.Context) (client.ServerVersionResult, error) {
	return d.cli.ServerVersion(ctx, client.ServerVersionOptions{})
}

// APIVersion is the API version in use (the negotiated one once the engine
// has answered).
func (d *Client) APIVersion() string { return d.cli.ClientVersion() }

// Close releases idle connections.
func (d *Client) Close() error { return d.cli.Close() }

// ListRunning lists running containers.
func (d *Client) ListRunning(ctx context.Context) ([]engine.Container, error) {
	res, err := d.cli.ContainerList(ctx, client.ContainerListOptions{
		Filters: make(client.Filters).Add("status", "running"),
	})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := make([]engine.Container, 0, len(res.Items))
	for _, s := range res.Items {
		names := make([]string, 0, len(s.Names))
		for _, n := range s.Names {
			names = append(names, strings.TrimPrefix(n, "/"))
		}
		out = append(out, engine.Container{
			ID:          s.ID,
			Names:       names,
			Labels:      s.Labels,
			NetworkMode: engine.NetworkMode(s.HostConfig.NetworkMode),
			ImageID:     s.ImageID,
			Image:       s.Image,
			Networks:    networkAddrs(s.NetworkSettings),
		})
	}
	return out, nil
}

// Inspect inspects one container; a 404 matches engine.ErrContainerGone.
func (d *Client) Inspect(ctx context.Context, id string) (engine.ContainerInfo, error) {
	res, err := d.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return engine.ContainerInfo{}, fmt.Errorf("inspect %s: %w", engine.ShortID(id), errors.Join(engine.ErrContainerGone, err))
		}
		return engine.ContainerInfo{}, fmt.Errorf("inspect %s: %w", engine.ShortID(id), err)
	}
	c := res.Container
	info := engine.ContainerInfo{ID: c.ID, Name: strings.TrimPrefix(c.Name, "/")}
	if c.State != nil {
		info.Running = c.State.Running
		info.PID = c.State.Pid
	}
	if c.HostConfig != nil {
		info.NetworkMode = engine.NetworkMode(c.HostConfig.NetworkMode)
		info.Privileged = c.HostConfig.Privileged
		info.CapAdd = c.HostConfig.CapAdd
		info.CapDrop = c.HostConfig.CapDrop
		info.DNS = c.HostConfig.DNS
	}
	if c.NetworkSettings != nil {
		info.SandboxKey = c.NetworkSettings.SandboxKey
	}
	return info, nil
}

// ImageLabels inspects one image and returns its labels; a 404 matches
// engine.ErrImageGone.
func (d *Client) ImageLabels(ctx context.Context, image string) (map[string]string, error) {
	res, err := d.cli.ImageInspect(ctx, image)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil, fmt.Errorf("inspect image %s: %w", engine.SafeName(image), errors.Join(engine.ErrImageGone, err))
		}
		return nil, fmt.Errorf("inspect image %s: %w", engine.SafeName(image), err)
	}
	if res.Config == nil {
		return nil, nil
	}
	return res.Config.Labels, nil
}

// Subscribe opens the event stream for container and network events.
//
// The client's Events call returns as soon as the engine has answered the
// request (or failed to). A ping first makes an engine that is down fail
// here, as an error, rather than as a stream that ends at once.
func (d *Client) Subscribe(ctx context.Context, since time.Time) (*engine.EventStream, error) {
	if _, err := d.cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		return nil, fmt.Errorf("docker engine: %w", err)
	}
	opts := client.EventsListOptions{
		Filters: make(client.Filters).
			Add("type", string(events.ContainerEventType), string(events.NetworkEventType)).
			Add("event", "create", "start", "restart", "die", "destroy", "connect", "disconnect"),
	}
	if !since.IsZero() {
		// Seconds with a nanosecond fraction, the engine's timestamp format.
		opts.Since = fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond())
	}
	res := d.cli.Events(ctx, opts)

	out := make(chan engine.Event)
	errc := make(chan error, 1)
	go func() {
		defer close(out)
		for {
			select {
			case m := <-res.Messages:
				ev, ok := eventFromMessage(m)
				if !ok {
					continue
				}
				select {
				case out <- ev:
				case <-ctx.Done():
					errc <- ctx.Err()
					return
				}
			case err := <-res.Err:
				if err == nil {
					err = errors.New("event stream closed")
				}
				errc <- fmt.Errorf("docker events: %w", err)
				return
			}
		}
	}()
	return &engine.EventStream{C: out, Err: errc}, nil
}

// networkAddrs are a listed container's addresses per network (nil when
// it has none).
func networkAddrs(ns *container.NetworkSettingsSummary) map[string][]netip.Addr {
	if ns == nil || len(ns.Networks) == 0 {
		return nil
	}
	out := make(map[string][]netip.Addr, len(ns.Networks))
	for name, ep := range ns.Networks {
		if ep == nil {
			continue
		}
		var addrs []netip.Addr
		for _, a := range []netip.Addr{ep.IPAddress, ep.GlobalIPv6Address} {
			if a.IsValid() && !a.IsUnspecified() {
				addrs = append(addrs, a.Unmap())
			}
		}
		out[name] = addrs
	}
	return out
}
