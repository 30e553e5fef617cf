package droplog

import "errors"

// ErrHubClosed: Watch on a Hub after its Close.
var ErrHubClosed = errors.New("droplog: hub closed")
