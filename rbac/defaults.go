package rbac

import (
	"bytes"
	_ "embed"
	"sync"
)

//go:embed defaults.yaml
var defaultsYAML []byte

var defaultSet = sync.OnceValue(func() *Set {
	var d Dump
	if err := d.Load("defaults.yaml", bytes.NewReader(defaultsYAML)); err != nil {
		panic(err) // embedded and tested
	}
	s, err := d.Set()
	if err != nil {
		panic(err)
	}
	return s
})

// DefaultSet is the bootstrap policy's DefaultBindings and their
// ClusterRoles: what every authenticated user (and service account) may
// do on any cluster.
func DefaultSet() *Set { return defaultSet() }
