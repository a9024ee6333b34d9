package main

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// krewPlugin is the part of a krew manifest (krew.googlecontainertools.github.com/v1alpha2) checked here.
type krewPlugin struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string `json:"version"`
		Homepage         string `json:"homepage"`
		ShortDescription string `json:"shortDescription"`
		Description      string `json:"description"`
		Platforms        []struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			URI    string `json:"uri"`
			SHA256 string `json:"sha256"`
			Bin    string `json:"bin"`
			Files  []struct {
				From string `json:"from"`
				To   string `json:"to"`
			} `json:"files"`
		} `json:"platforms"`
	} `json:"spec"`
}

var releasePlatforms = []string{"darwin/amd64", "darwin/arm64", "linux/amd64", "linux/arm64", "windows/amd64"}

// TestKrewManifest: the manifest template names the five release
// platforms, each with its archive and binary. With AUDITQ_RELEASE_DIR set
// (CI runs scripts/release.sh into it first), the filled manifest matches
// the archives built: every checksum, and the binary each names is in its
// archive.
func TestKrewManifest(t *testing.T) {
	dir := os.Getenv("AUDITQ_RELEASE_DIR")
	file := filepath.Join("..", "..", "deploy", "krew", "auditq.yaml")
	if dir != "" {
		file = filepath.Join(dir, "auditq.krew.yaml")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var m krewPlugin
	if err := yaml.UnmarshalStrict(data, &m); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if m.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || m.Kind != "Plugin" || m.Metadata.Name != "auditq" || m.Spec.ShortDescription == "" {
		t.Errorf("manifest header: %+v", m)
	}
	var got []string
	for _, p := range m.Spec.Platforms {
		goos, arch := p.Selector.MatchLabels["os"], p.Selector.MatchLabels["arch"]
		got = append(got, goos+"/"+arch)
		exe := "auditq"
		if goos == "windows" {
			exe = "auditq.exe"
		}
		if p.Bin != exe || !strings.HasSuffix(p.URI, "_"+goos+"_"+arch+".tar.gz") || !slices.ContainsFunc(p.Files, func(f struct {
			From string `json:"from"`
			To   string `json:"to"`
		}) bool {
			return f.From == exe
		}) {
			t.Errorf("%s/%s: bin %q, uri %q, files %v", goos, arch, p.Bin, p.URI, p.Files)
		}
		if dir == "" {
			continue
		}
		archive := filepath.Join(dir, path.Base(p.URI))
		b, err := os.ReadFile(archive)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != p.SHA256 {
			t.Errorf("%s: sha256 %s in the manifest, %x in the file", archive, p.SHA256, sum)
		}
		if !archiveHolds(t, archive, exe) {
			t.Errorf("%s does not hold %s", archive, exe)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, releasePlatforms) {
		t.Errorf("platforms %v, want %v", got, releasePlatforms)
	}
	if dir != "" && strings.Contains(string(data), "{{") {
		t.Errorf("placeholders left in %s", file)
	}
}

func archiveHolds(t *testing.T, archive, name string) bool {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return false
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == name && h.Mode&0o111 != 0 && h.Size > 1<<20 {
			return true
		}
	}
}
