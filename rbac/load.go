package rbac

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Dump is what Load read: the RBAC objects, and the objects of other kinds
// it passed over ("Kind namespace/name").
type Dump struct {
	Roles               []*rbacv1.Role
	ClusterRoles        []*rbacv1.ClusterRole
	RoleBindings        []*rbacv1.RoleBinding
	ClusterRoleBindings []*rbacv1.ClusterRoleBinding
	Skipped             []string
}

// Set makes the Set of the dump's objects.
func (d *Dump) Set() (*Set, error) {
	return NewSet(d.Roles, d.ClusterRoles, d.RoleBindings, d.ClusterRoleBindings)
}

// LoadError is a document of a dump that could not be read.
type LoadError struct {
	Name     string // the file, or "<stdin>"
	Document int    // 1-based, counting YAML documents or JSON values
	Line     int    // the line the document starts on
	Err      error
}

func (e *LoadError) Error() string {
	return fmt.Sprintf("%s: document %d (line %d): %v", e.Name, e.Document, e.Line, e.Err)
}

func (e *LoadError) Unwrap() error { return e.Err }

// Load reads RBAC objects as `kubectl get roles,clusterroles,rolebindings,
// clusterrolebindings -A -o yaml` writes them (a List), or as manifests
// (YAML documents or JSON values, Lists or single objects, gzipped or not),
// adding them to d. Objects of other kinds are passed over and named in
// Skipped; a document that is not a Kubernetes object, or an RBAC object of
// a version other than rbac.authorization.k8s.io/v1, is an error with its
// position.
func (d *Dump) Load(name string, r io.Reader) error {
	br := bufio.NewReader(r)
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		defer zr.Close()
		br = bufio.NewReader(zr)
	}
	docs := utilyaml.NewYAMLReader(br)
	line := 1
	for n := 1; ; n++ {
		doc, err := docs.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return &LoadError{name, n, line, err}
		}
		start := line
		line += bytes.Count(doc, []byte("\n")) + 1 // the separator's line
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			n--
			continue
		}
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return &LoadError{name, n, start, err}
		}
		if err := d.add(js); err != nil {
			return &LoadError{name, n, start, err}
		}
	}
}

func stripComments(doc []byte) []byte {
	var out []byte
	for _, l := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(l); len(t) > 0 && t[0] != '#' && !bytes.Equal(t, []byte("---")) {
			out = append(out, l...)
		}
	}
	return out
}

type typeMeta struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Items      []json.RawMessage `json:"items"`
	Metadata   struct {
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	} `json:"metadata"`
}

func (d *Dump) add(js []byte) error {
	var tm typeMeta
	if err := json.Unmarshal(js, &tm); err != nil {
		return fmt.Errorf("not a Kubernetes object: %w", err)
	}
	if tm.Kind == "" {
		return errors.New("not a Kubernetes object: no kind")
	}
	if tm.Kind == "List" || strings.HasSuffix(tm.Kind, "List") && tm.Items != nil {
		for i, item := range tm.Items {
			if err := d.add(item); err != nil {
				return fmt.Errorf("%s item %d: %w", tm.Kind, i+1, err)
			}
		}
		return nil
	}
	switch tm.Kind {
	case "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding":
	default:
		d.Skipped = append(d.Skipped, fmt.Sprintf("%s %s", tm.Kind, strings.TrimPrefix(tm.Metadata.Namespace+"/"+tm.Metadata.Name, "/")))
		return nil
	}
	if tm.APIVersion != rbacv1.SchemeGroupVersion.String() {
		return fmt.Errorf("%s %q: apiVersion %q, want %s", tm.Kind, tm.Metadata.Name, tm.APIVersion, rbacv1.SchemeGroupVersion)
	}
	var err error
	switch tm.Kind {
	case "Role":
		var o rbacv1.Role
		if err = json.Unmarshal(js, &o); err == nil {
			d.Roles = append(d.Roles, &o)
		}
	case "ClusterRole":
		var o rbacv1.ClusterRole
		if err = json.Unmarshal(js, &o); err == nil {
			d.ClusterRoles = append(d.ClusterRoles, &o)
		}
	case "RoleBinding":
		var o rbacv1.RoleBinding
		if err = json.Unmarshal(js, &o); err == nil {
			d.RoleBindings = append(d.RoleBindings, &o)
		}
	case "ClusterRoleBinding":
		var o rbacv1.ClusterRoleBinding
		if err = json.Unmarshal(js, &o); err == nil {
			d.ClusterRoleBindings = append(d.ClusterRoleBindings, &o)
		}
	}
	if err != nil {
		return fmt.Errorf("%s %q: %w", tm.Kind, tm.Metadata.Name, err)
	}
	return nil
}
