package rbac

import (
	"encoding/json"
	"time"
)

// Verdict is an observed request and what a Set decides for it.
type Verdict struct {
	Observed
	Decision Decision `json:"decision"`
}

// MarshalJSON writes the request as Observed does, and the decision.
func (v Verdict) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		observedJSON
		Decision Decision `json:"decision"`
	}{v.toJSON(), v.Decision})
}

// CheckReport is what Check found.
type CheckReport struct {
	// Checked counts the distinct requests replayed: those RBAC had to
	// allow (Class.NeedsRBAC) and those the log shows forbidden.
	Checked int `json:"checked"`
	// Denied are requests RBAC had to allow that the Set would refuse.
	Denied []Verdict `json:"denied"`
	// NowAllowed are requests the log shows forbidden that the Set allows.
	NowAllowed []Verdict `json:"nowAllowed"`
	// Mismatched are requests whose logged RBAC decision the Set does not
	// reproduce (RBAC-allowed now denied, or forbidden now allowed): when
	// the Set is the cluster's RBAC as it was, a stale dump or another
	// authorizer.
	Mismatched int `json:"mismatched"`
	// NotChecked counts the distinct requests RBAC did not decide
	// (system:masters, other authorizers, refused impersonations).
	NotChecked int       `json:"notChecked"`
	First      time.Time `json:"first"`
	Last       time.Time `json:"last"`
}

// Check replays every observed request against set, as kube-apiserver's
// privileged group and RBAC authorizer would decide it.
func Check(obs *Observations, set *Set) *CheckReport {
	rep := &CheckReport{Denied: []Verdict{}, NowAllowed: []Verdict{}}
	rep.First, rep.Last = obs.Window()
	for _, o := range obs.All() {
		if !o.Class.NeedsRBAC() && o.Class != Forbidden {
			rep.NotChecked++
			continue
		}
		rep.Checked++
		a := o.Attributes()
		d := set.Authorize(a)
		switch {
		case o.Class == Forbidden && d.Allowed:
			rep.NowAllowed = append(rep.NowAllowed, Verdict{o, d})
			rep.Mismatched++
		case o.Class != Forbidden && !d.Allowed:
			rep.Denied = append(rep.Denied, Verdict{o, d})
			if o.Class == RBACAllowed || o.Class == AdmissionDenied {
				rep.Mismatched++
			}
		}
	}
	return rep
}
