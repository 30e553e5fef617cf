// Package moby is the engine adapter on github.com/moby/moby/client: it
// lists, inspects and follows the containers of a Docker engine and answers
// in package engine's types. It negotiates the API version, so it works
// with engines from API 1.41 (Docker 20.10) up.
package moby
