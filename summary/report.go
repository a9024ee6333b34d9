package summary

import "time"

// Report is what a responder reads first about a log. Its JSON keys are
// stable (docs/commands.md lists them); lists are sorted by count, largest
// first, then by key.
//
// Counting rules: events counts every event; requests counts distinct auditIDs.
// Request attributes (verb, user, resource…) are counted once per request, from
// its first event; codes once per request, from its first event with a
// responseStatus; latency from each ResponseComplete event.
type Report struct {
	From        time.Time `json:"from"` // earliest requestReceivedTimestamp (or stageTimestamp)
	To          time.Time `json:"to"`   // latest stageTimestamp
	Events      int64     `json:"events"`
	Requests    int64     `json:"requests"`
	Approximate bool      `json:"approximate"` // a top list outgrew its memory bound and was pruned

	Stages      []Row `json:"stages"` // events
	Levels      []Row `json:"levels"` // events
	Verbs       []Row `json:"verbs"`  // requests, as all the lists below
	CodeClasses []Row `json:"codeClasses"`
	Codes       []Row `json:"codes"`

	Users           []Row `json:"users"`
	ServiceAccounts []Row `json:"serviceAccounts"` // NAMESPACE:NAME
	Resources       []Row `json:"resources"`       // RESOURCE[.GROUP][/SUBRESOURCE]
	NonResourceURLs []Row `json:"nonResourceURLs"` // path of requests without objectRef
	Namespaces      []Row `json:"namespaces"`
	UserAgents      []Row `json:"userAgents"`
	SourceIPs       []Row `json:"sourceIPs"` // first source IP

	Failures Activities `json:"failures"` // requests answered 4xx or 5xx
	Denials  Activities `json:"denials"`  // authorization.k8s.io/decision=forbid

	Latency       Latency       `json:"latency"`
	LatencyByVerb []VerbLatency `json:"latencyByVerb"`
	Sensitive     []Sensitive   `json:"sensitive"`
	Timeline      Timeline      `json:"timeline"`
	// Sources are where the events came from (auditlog.Event.Source: an
	// export's cluster and node, or a file's rotation set), in name order.
	Sources []Source `json:"sources"`
}

// Row is one row of a breakdown: a key and how many requests (or events) had it.
type Row struct {
	Key   string `json:"key"`
	Count int64  `json:"count"`
}

// Activities is a total and its most frequent who-did-what rows.
type Activities struct {
	Requests int64      `json:"requests"`
	Top      []Activity `json:"top"`
}

// Activity is who did what, and how often. Fields that do not apply are empty.
type Activity struct {
	Count     int64  `json:"count"`
	User      string `json:"user"`
	As        string `json:"as,omitempty"` // impersonated user
	Verb      string `json:"verb"`
	Resource  string `json:"resource"` // RESOURCE[.GROUP][/SUBRESOURCE], or the path of a non-resource request
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
	Code      int32  `json:"code,omitempty"`
	Reason    string `json:"reason,omitempty"` // authorization.k8s.io/reason, for denials
}

// Latency is the distribution of stageTimestamp − requestReceivedTimestamp over
// completed requests, without long-running ones (watch; exec, attach,
// portforward, proxy and log subresources). Percentiles are exact to within 2%.
type Latency struct {
	Requests int64   `json:"requests"`
	P50ms    float64 `json:"p50ms"`
	P90ms    float64 `json:"p90ms"`
	P99ms    float64 `json:"p99ms"`
	Maxms    float64 `json:"maxms"`
}

// VerbLatency is the Latency of one verb.
type VerbLatency struct {
	Verb string `json:"verb"`
	Latency
}

// Sensitive is one kind of activity a responder checks first.
type Sensitive struct {
	Category string `json:"category"`
	Activities
}

// Sensitive categories, in the order they are reported.
var sensitiveCategories = []string{
	"secret-reads",    // get/list/watch of secrets
	"exec",            // pods/exec
	"attach",          // pods/attach
	"portforward",     // pods/portforward
	"rbac-changes",    // writes to rbac.authorization.k8s.io
	"impersonation",   // requests with impersonatedUser
	"anonymous",       // system:anonymous
	"unauthenticated", // 401
	"token-requests",  // serviceaccounts/token create
	"deletions",       // delete and deletecollection
}

// Source is the events of one source and their time range.
type Source struct {
	Source string    `json:"source"`
	Events int64     `json:"events"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
}

// Timeline is the request rate: Requests[i] requests (Errors[i] of them
// answered 4xx/5xx, ServerErrors[i] 5xx, Denials[i] denied by the
// authorizer) were received in [Start+i·BucketSeconds, Start+(i+1)·BucketSeconds).
type Timeline struct {
	Start         time.Time `json:"start"`
	BucketSeconds int64     `json:"bucketSeconds"`
	Requests      []int64   `json:"requests"`
	Errors        []int64   `json:"errors"`
	ServerErrors  []int64   `json:"serverErrors"`
	Denials       []int64   `json:"denials"`
}
