package htmlreport

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/internal/audittest"
	"github.com/auditq/auditq/summary"
)

// payloads are what an attacker puts in the fields a report shows: each
// would set the page's title, or add an element, if it were not escaped.
var payloads = []string{
	`<script>document.title='pwned-script'</script>`,
	`<img src=x onerror="document.title='pwned-img'">`,
	`"><svg onload="document.title='pwned-svg'">`,
	`</title></text><script>document.title='pwned-title'</script>`,
	`<iframe srcdoc="<script>parent.document.title='pwned-iframe'</script>">`,
}

// jsonString is s as a JSON string's content: HTML-escaped (\u003c, as
// encoding/json writes it) or not, as other encoders do.
func jsonString(s string, escapeHTML bool) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(escapeHTML)
	enc.Encode(s)
	out := strings.TrimSpace(b.String())
	return out[1 : len(out)-1]
}

// hostileLog is the repository's fixture (kube-apiserver's own audit code
// wrote it) with payloads in the user agent, user name, namespace, name,
// request URI and the authorizer's reason of some requests, as the JSON
// encoder writes them.
func hostileLog(t *testing.T) string {
	t.Helper()
	var data []byte
	for _, f := range audittest.RotationSet(t, audittest.Rotated()) {
		data = append(data, audittest.ReadFile(t, f)...)
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	n := 0
	for i, l := range lines {
		if i%7 != 0 || !bytes.Contains(l, []byte(`"objectRef":{`)) {
			continue
		}
		p := jsonString(payloads[n%len(payloads)], n%2 == 0)
		n++
		s := string(l)
		s = strings.Replace(s, `"userAgent":"`, `"userAgent":"`+p, 1)
		s = strings.Replace(s, `"username":"`, `"username":"`+p, 1)
		s = strings.Replace(s, `"namespace":"`, `"namespace":"`+p, 1)
		s = strings.Replace(s, `"name":"`, `"name":"`+p, 1)
		s = strings.Replace(s, `"authorization.k8s.io/reason":"`, `"authorization.k8s.io/reason":"`+p, 1)
		lines[i] = []byte(s)
	}
	if n < 50 {
		t.Fatalf("only %d hostile lines", n)
	}
	path := filepath.Join(t.TempDir(), "kube-apiserver-audit.log")
	if err := os.WriteFile(path, bytes.Join(lines, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func reportOf(t *testing.T, path string, top int) *summary.Report {
	t.Helper()
	b := summary.New(top, 60)
	for ev, err := range auditlog.ReadFiles(context.Background(), []string{path}, auditlog.WithoutBodies()) {
		if err != nil {
			t.Fatal(err)
		}
		b.Add(ev)
	}
	return b.Report()
}

// chromium finds a headless Chromium, installing Debian's package when it
// can (as root, with apt-get); the browser tests skip, saying so, when
// there is none.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if _, err := exec.LookPath("apt-get"); err == nil && os.Geteuid() == 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		if out, err := exec.CommandContext(ctx, "apt-get", "install", "-y", "-q", "chromium").CombinedOutput(); err != nil {
			t.Logf("apt-get install chromium: %v\n%s", err, out)
		} else if p, err := exec.LookPath("chromium"); err == nil {
			return p
		}
	}
	t.Skip("no Chromium (apt-get install chromium): the report is not checked in a browser")
	return ""
}

// render loads the page in headless Chromium and returns the DOM after
// load, as the browser built it.
func render(t *testing.T, browser, page string) *html.Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--user-data-dir="+t.TempDir(), "--virtual-time-budget=2000", "--dump-dom", "file://"+page)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || len(out) == 0 {
		t.Fatalf("%s --dump-dom: %v\n%s", browser, err, stderr.Bytes())
	}
	doc, err := html.Parse(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func walk(n *html.Node, f func(*html.Node)) {
	f(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

func byID(doc *html.Node, id string) *html.Node {
	var found *html.Node
	walk(doc, func(n *html.Node) {
		for _, a := range n.Attr {
			if a.Key == "id" && a.Val == id && found == nil {
				found = n
			}
		}
	})
	return found
}

func text(n *html.Node) string {
	var b strings.Builder
	walk(n, func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
	})
	return b.String()
}

// TestReportInABrowser: the report of a log whose fields carry HTML and
// script renders in a real browser with its numbers, its chart and the
// hostile strings as text; no element the log asked for exists, no script
// ran (the page's title is its own).
func TestReportInABrowser(t *testing.T) {
	browser := chromium(t)
	rep := reportOf(t, hostileLog(t), 20)
	var page bytes.Buffer
	if err := Write(&page, rep, Options{Title: "Hostile fixture", Version: "test", Problems: 2}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(path, page.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	doc := render(t, browser, path)

	counts := map[string]int{}
	var handlers []string
	var title string
	walk(doc, func(n *html.Node) {
		if n.Type != html.ElementNode {
			return
		}
		counts[n.Data]++
		for _, a := range n.Attr {
			if strings.HasPrefix(a.Key, "on") || strings.Contains(a.Val, "javascript:") {
				handlers = append(handlers, n.Data+" "+a.Key+"="+a.Val)
			}
		}
		if n.Data == "title" && n.Parent != nil && n.Parent.Data == "head" {
			title = text(n)
		}
	})
	for _, tag := range []string{"script", "img", "iframe", "object", "embed", "link", "base", "form"} {
		if counts[tag] > 0 {
			t.Errorf("%d <%s> elements in the rendered page", counts[tag], tag)
		}
	}
	if len(handlers) > 0 {
		t.Errorf("event handlers in the rendered page: %q", handlers)
	}
	if title != "Hostile fixture" {
		t.Errorf("the page's title is %q: a payload ran", title)
	}
	if counts["svg"] < 1 || counts["rect"] < 10 {
		t.Errorf("%d svg, %d rect elements: no chart", counts["svg"], counts["rect"])
	}

	// The chart: one bucket a timeline slot, the bars stacked from the counts.
	tl := byID(doc, "timeline")
	if tl == nil {
		t.Fatal("no #timeline")
	}
	buckets := 0
	walk(tl, func(n *html.Node) {
		for _, a := range n.Attr {
			if n.Data == "g" && a.Key == "class" && a.Val == "bucket" {
				buckets++
			}
		}
	})
	if buckets != len(rep.Timeline.Requests) || buckets == 0 {
		t.Errorf("%d buckets drawn, the timeline has %d", buckets, len(rep.Timeline.Requests))
	}

	// The numbers, as the report has them.
	kpis := text(byID(doc, "kpis"))
	for _, want := range []string{num(rep.Events), num(rep.Requests), num(rep.Failures.Requests), num(rep.Denials.Requests)} {
		if !strings.Contains(kpis, want) {
			t.Errorf("the figures %q lack %s", kpis, want)
		}
	}
	if h := text(byID(doc, "failures")); !strings.Contains(h, fmt.Sprintf("Failures (4xx/5xx): %s requests", num(rep.Failures.Requests))) {
		t.Errorf("failures section: %.200q", h)
	}
	if !strings.Contains(text(byID(doc, "problems")), "2 problems") {
		t.Error("the problems met while reading are not said")
	}

	// The payloads are there, as text.
	body := text(doc)
	shown := 0
	for _, p := range payloads {
		if strings.Contains(body, p) {
			shown++
		}
	}
	if shown < 3 {
		t.Errorf("%d of %d payloads shown as text", shown, len(payloads))
	}
	if !regexp.MustCompile(`<script>document\.title='pwned-script'</script>`).MatchString(body) {
		t.Error("the <script> payload is not shown as text")
	}
	t.Logf("report: %d bytes, %d elements, %d buckets; %d payloads shown as text", page.Len(), func() int {
		n := 0
		for _, c := range counts {
			n += c
		}
		return n
	}(), buckets, shown)
}
